"""In-memory data plane with the Linux driver's contract (unit tests, laptops: EGRET_FAKE_DRIVERS=1)."""
from __future__ import annotations

import copy
import threading

from services.network.conf import section
from services.network.drivers import names
from services.network.drivers.base import Driver, Topology


class FakeDriver(Driver):
    def __init__(self, settings=None, prefix: str | None = None):
        self.prefix = prefix or (section(settings)["prefix"] if settings is not None else "eg")
        self.topology = Topology()
        self.plugged: set[str] = set()   # taps a test pretends libvirt created
        self.applied = 0
        self._lock = threading.Lock()

    def apply(self, topology: Topology, verify: bool = True) -> None:
        with self._lock:
            self.topology = copy.deepcopy(topology)
            self.applied += 1

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
                "floating_ips": sorted(f for r in t.routers for f, _ in r.floating_ips),
            }

    def teardown(self) -> None:
        self.apply(Topology())
