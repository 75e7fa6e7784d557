"""The Linux data plane: bridges + VXLAN/flat/VLAN uplinks, qdhcp/qrouter namespaces, dnsmasq, nftables, tc."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import re
import subprocess
import threading
from pathlib import Path

from pyroute2.netlink.exceptions import NetlinkError

from services.network.conf import VXLAN_OVERHEAD, section
from services.network.drivers import base, names
from services.network.drivers.base import Driver, Topology
from services.network.drivers.linux import dhcp, links, metadata, nft, qos, tsn_qdiscs

log = logging.getLogger("egret.network.linux")
UPLINK_QUEUES = 8


class LinuxDriver(Driver):
    def __init__(self, settings, prefix: str | None = None):
        conf = section(settings)
        self.settings = settings
        self.node_tag = conf["node_tag"]
        self.prefix = prefix + self.node_tag if prefix else conf["prefix"]
        if not re.fullmatch(r"[a-z][a-z0-9]{0,7}", self.prefix):
            raise ValueError(f"network prefix {self.prefix!r}: 1-8 lowercase letters/digits, starting with a letter")
        self.alias = links.owner_alias(self.prefix)
        self.mappings = dict(conf.get("physical_interface_mappings", {}))
        self.upstream = dict(conf["external_upstream"])
        self.vxlan_local = conf.get("vxlan_local_ip") or None
        self.vxlan_port = conf["vxlan_port"]
        self.base = Path(settings.state_dir) / "network" / f"dhcp-{self.prefix}"
        self.metadata_upstream = settings.url("metadata")
        self._lock = threading.RLock()
        self._nft_cache: dict[str | None, str] = {}
        self._qos_state: dict = {}
        self._garp: list[subprocess.Popen] = []
        self._vlan_supported: bool | None = None
        self._forwarding: set[str] = set()
        self._applied: dict[tuple, str] = {}
        self._verify = True
        self.last_errors: list[str] = []

    # ------------------------------------------------------------------ apply
    @contextlib.contextmanager
    def _exclusive(self):
        """One apply at a time, across threads and across gunicorn workers of the same state dir."""
        with self._lock:
            self.base.parent.mkdir(parents=True, exist_ok=True)
            with open(self.base.parent / f"apply-{self.prefix}.lock", "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                yield

    def apply(self, topology: Topology, verify: bool = True) -> None:
        with self._exclusive():
            # verify=False (after an API call): trust what this process applied before and skip the checks
            # that cost a subprocess each; the periodic reconcile verifies everything
            self._verify = verify
            errors: list[str] = []
            topology = names.localize(topology, self.node_tag)
            try:
                remotes = base.vxlan_remotes(topology.vxlan_peers, self.vxlan_local, self.vxlan_port)
            except ValueError as exc:
                errors.append(str(exc))
                remotes = None          # flood lists stay as they are until the list is fixed
            self._cleanup(topology, errors)
            self._ensure_upstream(errors)
            if remotes is not None:
                # before the flood lists: a node that left must not be relearned between the two
                self._guard(errors, "vtep filter", self._vtep_filter, topology, remotes)
            with links.ns(None) as root:
                bridges = self._networks(root, topology, remotes, errors)
                self._tsn(root, topology, errors)
                for spec in topology.dhcp:
                    self._once(errors, ("dhcp", spec.network_id), spec, self._dhcp, root, bridges, spec)
                for spec in topology.routers:
                    self._once(errors, ("router", spec.id), spec, self._router, root, bridges, spec)
                self._guard(errors, "security groups", self._security, topology)
                present = links.links_by_name(root)
                for port in topology.ports:
                    # a tap the hypervisor made before a bridge was (re)built goes back on it, as Neutron's agent does
                    if port.bridge in bridges:
                        self._guard(errors, f"plug {port.id}", links.enslave, root, port.tap, bridges[port.bridge],
                                    present)
                for port in topology.ports:
                    self._guard(errors, f"qos {port.id}", qos.apply, root, port, self.alias, self._qos_state)
            self._garp = [p for p in self._garp if p.poll() is None]
            self.last_errors = errors
            if errors:
                raise RuntimeError("; ".join(errors))

    def _once(self, errors, key, spec, fn, *args) -> None:
        """Apply one namespace's spec; on the fast path skip it when it equals what this process last applied."""
        text = repr(spec)
        if not self._verify and self._applied.get(key) == text:
            return
        if self._guard(errors, f"{key[0]} {key[1]}", fn, *args):
            self._applied[key] = text
        else:
            self._applied.pop(key, None)

    @staticmethod
    def _guard(errors, what, fn, *args) -> bool:
        try:
            fn(*args)
            return True
        except Exception as exc:   # one broken object must not stop the others from converging
            log.exception("%s: apply failed", what)
            errors.append(f"{what}: {exc}")
            return False

    def _networks(self, root, topology, remotes, errors) -> dict[str, int]:
        bridges = {}
        underlay = links.underlay_mtu(root, self.vxlan_local)
        overhead = VXLAN_OVERHEAD[6 if ":" in (self.vxlan_local or "") else 4]
        # a learned MAC is sent to this node's own port: with a peer on another port (two nodes sharing a
        # machine) unicast must follow the flood list instead
        learning = None if remotes is None else all(port == self.vxlan_port for _, port in remotes)
        for net in topology.networks:
            try:
                idx = links.ensure_bridge(root, net.bridge, self.alias, net.mtu)
                bridges[net.bridge] = idx
                if net.network_type == "vxlan":
                    vx = links.ensure_vxlan(root, names.vxlan(net.id, self.node_tag), net.segmentation_id, idx,
                                            self.alias, net.mtu, self.vxlan_local, self.vxlan_port, learning)
                    if remotes is not None:
                        links.sync_flood_list(root, vx, remotes, self.vxlan_port)
                    if underlay and net.mtu + overhead > underlay:
                        raise RuntimeError(f"MTU {net.mtu} plus the VXLAN overhead ({overhead}) exceeds the "
                                           f"underlay's MTU {underlay}; lower the network's mtu")
                elif net.network_type == "flat":
                    iface = self.mappings.get(net.physical_network)
                    if not iface or not links.enslave(root, iface, idx):
                        raise RuntimeError(f"physical interface {iface!r} for {net.physical_network} is missing")
                elif net.network_type == "vlan":
                    parent = self.mappings.get(net.physical_network)
                    links.ensure_vlan(root, names.vlan(net.id, self.node_tag), parent, net.segmentation_id, idx,
                                      self.alias, net.egress_qos, net.ingress_qos)
            except (NetlinkError, RuntimeError, KeyError) as exc:
                log.error("network %s: %s", net.id, exc)
                errors.append(f"network {net.id}: {exc}")
        return bridges

    def _tsn(self, root, topology, errors) -> None:
        """Each mapped physical interface holds its network's TSN schedule, or no TSN qdisc at all (drift and
        deleted schedules are undone here: the mapped interfaces are the data plane's to shape)."""
        wanted = {self.mappings[n.physical_network]: n.tsn for n in topology.networks
                  if n.tsn and n.physical_network in self.mappings}
        for iface in sorted(set(self.mappings.values())):
            self._guard(errors, f"tsn {iface}", tsn_qdiscs.apply, root, iface, wanted.get(iface))

    def _ensure_upstream(self, errors) -> None:
        """`make up` on a build machine: the external network's "outside" is a bridge in a netns of ours."""
        if not self.upstream.get("physical_network"):
            return
        try:
            ext = names.ext_netns(self.prefix)
            links.ensure_netns(ext)
            with links.ns(ext) as inside:
                if not inside.link_lookup(ifname="br-up"):
                    inside.link("add", ifname="br-up", kind="bridge", br_forward_delay=0)
                br = inside.link_lookup(ifname="br-up")[0]
                inside.link("set", index=br, state="up")
                lo = inside.link_lookup(ifname="lo")[0]
                inside.link("set", index=lo, state="up")
                with links.ns(None) as root:
                    iface = self.upstream["interface"]
                    if not root.link_lookup(ifname=iface):
                        # as a NIC with several transmit queues (TSN schedules need them)
                        root.link("add", ifname=iface, kind="veth", num_tx_queues=UPLINK_QUEUES,
                                  num_rx_queues=UPLINK_QUEUES, peer={"ifname": "uplink", "net_ns_fd": ext})
                    root.link("set", index=root.link_lookup(ifname=iface)[0], ifalias=self.alias, state="up")
                up = inside.link_lookup(ifname="uplink")[0]
                inside.link("set", index=up, master=br, state="up")
                links.sync_addresses(inside, "br-up", [self.upstream.get("cidr", "203.0.113.1/24")])
        except Exception as exc:
            log.exception("external upstream")
            errors.append(f"external upstream: {exc}")

    def _dhcp(self, root, bridges, spec) -> None:
        if spec.iface.bridge not in bridges:
            raise RuntimeError(f"bridge {spec.iface.bridge} missing")
        links.ensure_netns(spec.netns)
        links.ensure_veth(root, spec.iface.tap, spec.iface.inner, spec.netns, bridges[spec.iface.bridge],
                          self.alias, spec.iface.mac, spec.subnets[0].mtu if spec.subnets else 1500)
        wanted = list(spec.iface.addresses)
        if spec.metadata and dhcp.dhcp_ip(spec, 4):
            wanted.append(f"{dhcp.METADATA_IP}/32")
        with links.ns(spec.netns) as inside:
            links.sync_addresses(inside, spec.iface.inner, wanted)
        dhcp.ensure(spec, self.base)
        if spec.metadata and dhcp.dhcp_ip(spec, 4):
            hosts = {h.ip: [h.device_id, h.project_id] for h in spec.hosts if ":" not in h.ip and h.device_id}
            metadata.ensure(spec.netns, spec.network_id, self.base / spec.network_id, hosts, self.metadata_upstream,
                            metadata.ensure_secret(self.settings.state_dir))

    def _router(self, root, bridges, spec) -> None:
        if spec.netns not in links.list_netns():
            links.ensure_netns(spec.netns)
            self._nft_cache.pop(spec.netns, None)
            self._forwarding.discard(spec.netns)
        if self._verify or spec.netns not in self._forwarding:
            links.sysctl_in(spec.netns, "net.ipv4.ip_forward", "1")
            self._forwarding.add(spec.netns)
        ifaces = list(spec.interfaces) + ([spec.gateway] if spec.gateway else [])
        for iface in ifaces:
            links.ensure_veth(root, iface.tap, iface.inner, spec.netns, bridges.get(iface.bridge), self.alias,
                              iface.mac, 1500)
        with links.ns(spec.netns) as inside:
            present = set(links.links_by_name(inside))
            wanted_inner = {i.inner for i in ifaces} | {"lo"}
            for stale in present - wanted_inner:
                links.delete_link(inside, stale)
            for iface in spec.interfaces:
                links.sync_addresses(inside, iface.inner, iface.addresses)
            if spec.gateway:
                fips = [f"{fip}/32" for fip, _ in spec.floating_ips]
                added = links.sync_addresses(inside, spec.gateway.inner, spec.gateway.addresses + fips)
                for ip in added:
                    if ":" not in ip:
                        # peers may cache an old MAC for a re-plumbed address (build-machines.md §5)
                        self._garp.append(subprocess.Popen(
                            ["ip", "netns", "exec", spec.netns, "arping", "-U", "-c", "2", "-w", "2", "-I",
                             spec.gateway.inner, ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            links.sync_default_route(inside, spec.gateway_nexthop if spec.gateway else None,
                                     spec.gateway.inner if spec.gateway else None)
            links.sync_routes(inside, spec.routes)
        text = nft.nat_ruleset(spec)
        if self._nft_cache.get(spec.netns) != nft.digest(text) or \
                (self._verify and ("ip", nft.NAT_TABLE) not in nft.list_tables(spec.netns)):
            nft.run(text, spec.netns)
            self._nft_cache[spec.netns] = nft.digest(text)

    def _security(self, topology) -> None:
        # the inet table sees bridged packets (with conntrack) only through br_netfilter
        for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
            path = Path("/proc/sys/net/bridge") / key
            if path.exists() and path.read_text().strip() != "1":
                path.write_text("1")
        table = names.sg_table(self.prefix)
        # the tables hold the port filters and the DSCP marks: none of either, no tables
        needed = [p for p in topology.ports if p.port_security or p.dscp_mark is not None]
        if not self._verify and needed and self._nft_cache.get(None) == nft.digest(
                "".join(nft.sg_ruleset(self.prefix, topology.ports))):
            return
        present = set(nft.list_tables())
        if not needed:
            for family in ("bridge", "inet"):
                if (family, table) in present:
                    nft.delete_table(family, table)
            self._nft_cache.pop(None, None)
            return
        bridge_text, inet_text = nft.sg_ruleset(self.prefix, topology.ports)
        text = bridge_text + inet_text
        if self._nft_cache.get(None) != nft.digest(text) or not {("bridge", table), ("inet", table)} <= present:
            nft.run(text)
            self._nft_cache[None] = nft.digest(text)

    def _vtep_filter(self, topology, remotes) -> None:
        table = nft.vtep_table(self.prefix)
        vnis = {n.segmentation_id for n in topology.networks if n.network_type == "vxlan"}
        if not vnis:
            if (self._verify or "vtep" in self._nft_cache) and ("inet", table) in nft.list_tables():
                nft.delete_table("inet", table)
            self._nft_cache.pop("vtep", None)
            return
        text = nft.vtep_ruleset(self.prefix, self.vxlan_port, remotes, sorted(vnis))
        if self._nft_cache.get("vtep") != nft.digest(text) or \
                (self._verify and ("inet", table) not in nft.list_tables()):
            nft.run(text)
            self._nft_cache["vtep"] = nft.digest(text)

    # ------------------------------------------------------------------ cleanup
    def _cleanup(self, topology: Topology, errors: list[str]) -> None:
        want_ns = {d.netns for d in topology.dhcp} | {r.netns for r in topology.routers}
        if self.upstream.get("physical_network"):
            want_ns.add(names.ext_netns(self.prefix))
        want_dhcp = {d.network_id for d in topology.dhcp}
        if self.base.exists():
            for d in self.base.iterdir():
                if d.is_dir() and d.name not in want_dhcp:
                    dhcp.remove(self.base, d.name)
        for name in links.list_netns():
            if name.startswith(self.prefix + "-") and name not in want_ns:
                links.kill_netns_processes(name)
                links.remove_netns(name)
                self._nft_cache.pop(name, None)
                self._forwarding.discard(name)
        want_links = set()
        for net in topology.networks:
            want_links |= {net.bridge, names.vxlan(net.id, self.node_tag), names.vlan(net.id, self.node_tag)}
        for d in topology.dhcp:
            want_links.add(d.iface.tap)
        for r in topology.routers:
            want_links |= {i.tap for i in r.interfaces} | ({r.gateway.tap} if r.gateway else set())
        want_links |= {names.ifb(p.id) for p in topology.ports if p.egress_kbps}
        if self.upstream.get("interface"):
            want_links.add(self.upstream["interface"])
        with links.ns(None) as root:
            for name, link in links.links_by_name(root).items():
                if link["alias"] == self.alias and name not in want_links:
                    links.delete_link(root, name)
        keep = {("dhcp", d.network_id) for d in topology.dhcp} | {("router", r.id) for r in topology.routers}
        self._applied = {k: v for k, v in self._applied.items() if k in keep}
        live = {p.tap for p in topology.ports}
        self._qos_state = {k: v for k, v in self._qos_state.items() if k in live}

    # ------------------------------------------------------------------ queries
    def port_states(self, taps):
        with links.ns(None) as root:
            present = links.links_by_name(root)
        return {t: bool(t in present and present[t]["up"] and present[t]["master"]) for t in taps}

    def inventory(self):
        with links.ns(None) as root:
            present = links.links_by_name(root)
        ours = {n: l for n, l in present.items() if l["alias"] == self.alias}
        table = names.sg_table(self.prefix)
        tables = [name for fam, name in nft.list_tables() if name == table and fam == "inet"]
        filtered, marked = [], []
        if tables:
            out = subprocess.run(["nft", "list", "table", "bridge", table], capture_output=True, text=True).stdout
            filtered = sorted(set(re.findall(r'iifname "(tap[^"]+)" meta mark set', out)))
            marked = sorted(set(re.findall(r'iifname "(tap[^"]+)" ip dscp set', out)))
        qos_taps = sorted(t for t in self._qos_state if t in present and any(qos.current(t)))
        fips = []
        for ns_name in links.list_netns():
            if ns_name.startswith(f"{self.prefix}-qrouter-"):
                out = subprocess.run(["ip", "netns", "exec", ns_name, "nft", "list", "table", "ip", nft.NAT_TABLE],
                                     capture_output=True, text=True).stdout
                fips += re.findall(r"ip daddr ([0-9.]+) dnat", out)
        return {
            "bridges": sorted(n for n, l in ours.items() if l["kind"] == "bridge"),
            "netns": sorted(n for n in links.list_netns() if n.startswith(self.prefix + "-")
                            and n != names.ext_netns(self.prefix)),
            "dhcp": dhcp.running(self.base),
            "nft_tables": tables,
            "filtered_taps": filtered,
            "qos_taps": qos_taps,
            "marked_taps": marked,
            "floating_ips": sorted(set(fips)),
            "tsn_interfaces": self._tsn_interfaces(),
        }

    def _tsn_interfaces(self) -> list[str]:
        with links.ns(None) as root:
            return sorted(i for i in set(self.mappings.values()) if tsn_qdiscs.read(root, i) is not None)

    def tx_queues(self, physical_network: str) -> int | None:
        iface = self.mappings.get(physical_network)
        if not iface:
            return None
        with links.ns(None) as root:
            return tsn_qdiscs.tx_queues(root, iface)

    def vxlan_peers(self):
        with links.ns(None) as root:
            ours = {n: l for n, l in links.links_by_name(root).items()
                    if l["alias"] == self.alias and l["kind"] == "vxlan"}
            return {name: sorted(base.peer_text(dst, port, self.vxlan_port)
                                 for dst, port in links.flood_list(root, link["index"], self.vxlan_port))
                    for name, link in ours.items()}

    def vlan_supported(self) -> bool:
        """Whether this kernel has 802.1Q (the build machines do not: DESIGN.md §9)."""
        if self._vlan_supported is None:
            probe = f"{self.prefix}vlp"
            with links.ns(None) as root:
                try:
                    root.link("add", ifname=probe, kind="veth", peer={"ifname": probe + "b"})
                    idx = root.link_lookup(ifname=probe)[0]
                    root.link("add", ifname=probe + ".9", kind="vlan", link=idx, vlan_id=9)
                    self._vlan_supported = True
                except NetlinkError as exc:
                    if exc.code != errno.EOPNOTSUPP:
                        raise
                    self._vlan_supported = False
                finally:
                    links.delete_link(root, probe)
        return self._vlan_supported

    def tsn_supported(self) -> bool:
        """Whether this kernel has the TSN qdiscs (the build machines' has none: DESIGN.md §9)."""
        probe = f"{self.prefix}tsp"
        with links.ns(None) as root:
            try:
                root.link("add", ifname=probe, kind="veth", num_tx_queues=2, peer={"ifname": probe + "b"})
                return tsn_qdiscs.supported(root, probe)
            finally:
                links.delete_link(root, probe)

    def teardown(self) -> None:
        self.apply(Topology())
        with self._exclusive():
            self.upstream = {}
            self._cleanup(Topology(), [])
            for family, name in nft.list_tables():
                if name in (names.sg_table(self.prefix), nft.vtep_table(self.prefix)):
                    nft.delete_table(family, name)
            with links.ns(None) as root:
                for name, link in links.links_by_name(root).items():
                    if link["alias"] == self.alias:
                        links.delete_link(root, name)

