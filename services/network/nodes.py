"""A site's nodes as the network service sees them: which driver reaches each, and which part of the topology each
gets (the founder all of it, every other node its own ports and their networks; VTEP peers from the member list)."""
from __future__ import annotations

import copy
import ipaddress
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from appliance.cluster import membership
from services.network.drivers import base
from services.network.drivers.remote import RemoteNetworkDriver

log = logging.getLogger("egret.network.nodes")


@dataclass(frozen=True)
class Node:
    name: str
    host: str          # its address without the port: where its agent listens and its VTEP
    online: bool
    founder: bool      # the control plane's own box: the network node (DHCP, metadata, routers, SNAT, FIPs)


def host_of(address: str) -> str:
    """"10.0.0.2:8120" -> "10.0.0.2", "[fd00::2]:8120" -> "fd00::2" (a member's cluster address)."""
    text = str(address or "").strip()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    return text.rpartition(":")[0] if text.count(":") == 1 else text


def site_info(settings) -> dict | None:
    """This box's site file, or None. One this unit may not read (the cluster unit's private state on a box whose
    permissions keep it out) is a standalone box's: the local data plane must never stop because of it."""
    try:
        return membership.site(settings)
    except (OSError, ValueError) as exc:
        log.warning("the site's membership cannot be read (%s); applying this node only", exc)
        return None


def site_nodes(settings) -> list[Node] | None:
    """Every node of the site when this box is its control plane (the founder), else None: a standalone box or a
    member applies only its own data plane, as before."""
    info = site_info(settings)
    if not info or info.get("role") != "founder":
        return None
    nodes = [Node(str(m.get("name")), host_of(m.get("address", "")), m.get("status") == "online",
                  m.get("name") == info["node"]) for m in membership.read_members(settings) if m.get("name")]
    if not any(n.founder for n in nodes):       # the cluster unit has not written its first round yet
        nodes.insert(0, Node(info["node"], "", True, True))
    return nodes


def vtep_peers(nodes: list[Node], node: Node, extra: list[str], ports: dict[str, int] | None = None) -> list[str]:
    """The other online nodes' VTEPs, then the `[network] vxlan_peers` setting. A member advertised by name, not
    address, cannot be a VTEP: it is left out (logged), so the others' flood lists still converge. `ports`: node ->
    the VXLAN port its agent reported; a peer listening on another port than `node` is named "ip:port" (several
    nodes on one machine each need their own), one on the same port (or not known) by its bare address."""
    ports = ports or {}
    own = ports.get(node.name)
    out = []
    for other in nodes:
        if other.name == node.name or not other.online or not other.host:
            continue
        try:
            ipaddress.ip_address(other.host)
        except ValueError:
            log.warning("node %s: address %r is not an IP address; it gets no VXLAN traffic", other.name, other.host)
            continue
        port = ports.get(other.name)
        if port is None or port == own:
            out.append(other.host)
        else:
            out.append(f"[{other.host}]:{port}" if ":" in other.host else f"{other.host}:{port}")
    return out + [p for p in extra if p not in out]


def split(topology: base.Topology, node: Node, nodes: list[Node], bindings: dict[str, str],
          ports: dict[str, int] | None = None) -> base.Topology:
    """The part of the site's `topology` that `node` applies. `bindings`: port id -> binding:host_id; the
    topology's own `vxlan_peers` (the `[network] vxlan_peers` setting) are added to every node's; `ports`: each
    node's VXLAN port, as vtep_peers takes it.

    The founder keeps everything but the VM ports bound to another node of the site (their taps live there). Any
    other node gets only the ports bound to it, with their security groups and QoS, and the networks they sit on;
    DHCP, metadata and routers stay on the founder, reached across the VXLAN segments."""
    others = {n.name for n in nodes} - {node.name}
    peers = vtep_peers(nodes, node, list(topology.vxlan_peers), ports)
    if node.founder:
        # unbound ports, and ports bound to a host that is no node of the site, stay where they always were
        ports = [p for p in topology.ports if bindings.get(p.id) not in others]
        return base.Topology(networks=copy.deepcopy(topology.networks), dhcp=copy.deepcopy(topology.dhcp),
                             routers=copy.deepcopy(topology.routers), ports=copy.deepcopy(ports), vxlan_peers=peers)
    ports = [p for p in topology.ports if bindings.get(p.id) == node.name]
    bridges = {p.bridge for p in ports}
    return base.Topology(networks=[copy.deepcopy(n) for n in topology.networks if n.bridge in bridges],
                         ports=copy.deepcopy(ports), vxlan_peers=peers)


class SiteDataPlane:
    """Applies the site's topology to every online node at once: the founder through the service's own driver,
    every other node through a RemoteNetworkDriver to its network agent. A node that fails is logged and retried
    with the next pass; it never holds the others back."""

    def __init__(self, settings, local, remote_factory=None):
        """`local`: () -> this box's own driver (the manager's, which tests may swap)."""
        self.settings = settings
        self._local = local
        self.remote_factory = remote_factory or RemoteNetworkDriver.for_node
        self._remotes: dict[str, tuple[str, base.Driver]] = {}
        self._lock = threading.Lock()
        self.failures: dict[str, str] = {}      # node -> what went wrong on its last pass (status, tests)
        self._tags: dict[str, str] = {}         # node -> its link-name tag, as it last said
        self._ports: dict[str, int] = {}        # node -> its VXLAN port, as it last said

    @property
    def local(self) -> base.Driver:
        return self._local()

    def nodes(self) -> list[Node] | None:
        return site_nodes(self.settings)

    def driver_for(self, node: Node) -> base.Driver:
        if node.founder:
            return self.local
        with self._lock:
            known = self._remotes.get(node.name)
            if known is None or known[0] != node.host:     # a node that moved gets a new driver
                known = self._remotes[node.name] = (node.host, self.remote_factory(self.settings, node.name,
                                                                                  node.host))
            return known[1]

    def node_tag(self, host: str | None) -> str:
        """The link-name tag of the node a port is bound to (`binding:host_id`), so its bridge is named as that
        node names it; this box's own for a host that is not another member (or one that cannot say now)."""
        own = getattr(self.local, "node_tag", "")
        nodes = self.nodes() if host else None
        node = next((n for n in nodes or [] if n.name == host and not n.founder), None)
        if node is None:
            return own
        if not node.online:     # never called while offline: what it said when it last could
            return self._tags.get(node.name, "")
        try:
            self._tags[node.name] = getattr(self.driver_for(node), "node_tag", "")
        except base.DriverError as exc:
            log.warning("bridge name for a port on %s: %s", host, exc)
        return self._tags.get(node.name, "")

    def vtep_ports(self, nodes: list[Node]) -> dict[str, int]:
        """Node -> the VXLAN port its driver listens on (each agent says it once; what it last said when it cannot
        say now), so every node floods to the port each peer really listens on."""
        for node in nodes:
            if not (node.online or node.founder):
                continue
            try:
                port = getattr(self.driver_for(node), "vxlan_port", None)
            except base.DriverError as exc:
                log.warning("VXLAN port of %s: %s", node.name, exc)
                continue
            if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
                self._ports[node.name] = port
        return {n.name: self._ports[n.name] for n in nodes if n.name in self._ports}

    def apply(self, topology: base.Topology, bindings: dict[str, str], verify: bool) -> None:
        """Every online node gets its part; raises only for the founder's own data plane (as before a site)."""
        nodes = self.nodes()
        if nodes is None:
            self.local.apply(topology, verify=verify)
            return
        targets = [n for n in nodes if n.online or n.founder]
        ports = self.vtep_ports(nodes)

        def one(node: Node):
            part = split(topology, node, nodes, bindings, ports)
            try:
                self.driver_for(node).apply(part, verify=verify)
            except Exception as exc:
                self.failures[node.name] = str(exc)
                if node.founder:
                    raise
                log.warning("network node %s: apply failed, retried next pass: %s", node.name, exc)
                return
            self.failures.pop(node.name, None)

        with ThreadPoolExecutor(max(1, len(targets)), thread_name_prefix="network-node") as pool:
            results = [pool.submit(one, n) for n in targets]
        for r in results:
            r.result()      # the founder's own failure, raised as before

    def port_states(self, taps_by_node: dict[str | None, list[str]]) -> dict[str, bool]:
        """Tap -> up, asking each online node for the taps bound to it (key None: the founder's). Taps of a node
        that is offline or does not answer are left out: their ports keep the status they had."""
        nodes = self.nodes()
        if nodes is None:
            return self.local.port_states([t for taps in taps_by_node.values() for t in taps])
        by_name = {n.name: n for n in nodes}
        founder = next(n for n in nodes if n.founder)
        work: dict[Node, list[str]] = {}
        for name, taps in taps_by_node.items():
            node = by_name.get(name) if name else None
            node = node or founder
            if node.online or node.founder:
                work.setdefault(node, []).extend(taps)
        out: dict[str, bool] = {}

        def one(item):
            node, taps = item
            try:
                return self.driver_for(node).port_states(taps)
            except Exception as exc:
                if node.founder:
                    raise
                log.warning("network node %s: port states unknown: %s", node.name, exc)
                return {}

        with ThreadPoolExecutor(max(1, len(work)), thread_name_prefix="network-node") as pool:
            for states in pool.map(one, work.items()):
                out.update(states)
        return out
