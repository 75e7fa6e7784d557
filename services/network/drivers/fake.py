"""In-memory data plane with the Linux driver's contract (unit tests, laptops: EGRET_FAKE_DRIVERS=1)."""
from __future__ import annotations

import copy
import threading

from services.network import tsn
from services.network.conf import section
from services.network.drivers import base, names
from services.network.drivers.base import Driver, Topology


class FakeDriver(Driver):
    def __init__(self, settings=None, prefix: str | None = None):
        conf = section(settings) if settings is not None else {"prefix": "eg", "node_tag": "", "vxlan_port": 4789}
        self.mappings = dict(conf.get("physical_interface_mappings") or {})
        self.nic_queues = 8             # every mapped interface, as a multi-queue NIC
        self.node_tag = conf["node_tag"]
        self.prefix = prefix + self.node_tag if prefix else conf["prefix"]
        self.vxlan_local = conf.get("vxlan_local_ip") or None
        self.vxlan_port = conf["vxlan_port"]
        self.topology = Topology()
        self.flood: dict[str, set[tuple[str, int]]] = {}   # VXLAN device -> remotes, as the kernel's FDB
        self.plugged: set[str] = set()   # taps a test pretends libvirt created
        self.applied = 0
        self.tsn_held: dict[str, dict] = {}     # interface -> the schedule it holds
        self._lock = threading.Lock()

    def apply(self, topology: Topology, verify: bool = True) -> None:
        with self._lock:
            self.topology = names.localize(copy.deepcopy(topology), self.node_tag)
            self.applied += 1
            errors = self._tsn()
            devices = [names.vxlan(n.id, self.node_tag) for n in self.topology.networks if n.network_type == "vxlan"]
            try:
                remotes = base.vxlan_remotes(topology.vxlan_peers, self.vxlan_local, self.vxlan_port)
            except ValueError as exc:
                # as the Linux driver: the rest converges, the flood lists stay as they were
                self.flood = {d: self.flood.get(d, set()) for d in devices}
                errors.append(str(exc))
            else:
                self.flood = {d: set(remotes) for d in devices}
            if errors:
                raise RuntimeError("; ".join(errors))

    def _tsn(self) -> list[str]:
        """As the Linux driver: a schedule that does not fit the NIC is refused and the running one stays."""
        held, errors = {}, []
        for net in self.topology.networks:
            iface = self.mappings.get(net.physical_network)
            if net.tsn and iface:
                try:
                    held[iface] = tsn.normalize(net.tsn, self.nic_queues)
                except tsn.ScheduleError as exc:
                    errors.append(f"tsn {iface}: {exc}")
                    if iface in self.tsn_held:
                        held[iface] = self.tsn_held[iface]
        self.tsn_held = held
        return errors

    def plug(self, tap: str) -> None:
        """Test hook: behave as if a hypervisor created `tap` on its bridge."""
        self.plugged.add(tap)

    def port_states(self, taps):
        with self._lock:
            internal = {i.tap for d in self.topology.dhcp for i in [d.iface]}
            internal |= {i.tap for r in self.topology.routers for i in r.interfaces + ([r.gateway] if r.gateway else [])}
            return {t: (t in self.plugged or t in internal) for t in taps}

    def inventory(self):
        t = self.topology
        with self._lock:
            netns = [d.netns for d in t.dhcp] + [r.netns for r in t.routers]
            return {
                "bridges": sorted(n.bridge for n in t.networks),
                "netns": sorted(netns),
                "dhcp": sorted(d.network_id for d in t.dhcp),
                "nft_tables": [names.sg_table(self.prefix)] if t.ports else [],
                "filtered_taps": sorted(p.tap for p in t.ports if p.port_security),
                "qos_taps": sorted(p.tap for p in t.ports if (p.egress_kbps or p.ingress_kbps)
                                   and p.tap in self.plugged),
                "marked_taps": sorted(p.tap for p in t.ports if p.dscp_mark is not None),
                "floating_ips": sorted(f for r in t.routers for f, _ in r.floating_ips),
                "tsn_interfaces": sorted(self.tsn_held),
            }

    def tx_queues(self, physical_network: str) -> int | None:
        return self.nic_queues if physical_network in self.mappings else None

    def vxlan_peers(self):
        with self._lock:
            return {d: sorted(base.peer_text(a, p, self.vxlan_port) for a, p in remotes)
                    for d, remotes in self.flood.items()}

    def teardown(self) -> None:
        self.apply(Topology())
