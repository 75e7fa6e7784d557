"""The control plane's node registry follows the site's membership: remote drivers, node rows, up/down, stale guests."""
from __future__ import annotations

import logging
import threading
import time
import weakref

from appliance.cluster import membership   # the members file the cluster unit writes (no call to the unit)
from services.compute import capacity
from services.compute.drivers.remote import RemoteDriver
from services.compute.drivers.specs import DriverError
from services.compute.models import ComputeNode, Instance, database
from services.compute.scheduler import nodes

log = logging.getLogger(__name__)

# what the loop last made of each member, per Node (the registry of one compute service process)
_registries: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def sync(node, members: list[dict], settings, factory=None) -> dict:
    """One round on the site's control plane (the founder): the node registry and the node rows match `members`
    (membership.read_members). A member or a standalone box does nothing. Returns what the round did."""
    if membership.role(settings) != "founder":
        return {}
    return _registry(node, settings, factory).sync(members)


def follow(node, settings) -> None:
    """Any API process (gunicorn may run several): its own registry reaches the members the file lists, at most
    once an interval; only the background process's loop (sync) writes node rows and destroys stale guests."""
    registry = _registry(node, settings)
    now = time.monotonic()
    if now < registry.followed + interval(settings):
        return
    registry.followed = now
    if membership.role(settings) == "founder":
        registry.follow(membership.read_members(settings))


def _registry(node, settings, factory=None) -> "SiteRegistry":
    registry = _registries.get(node)
    if registry is None:
        registry = _registries[node] = SiteRegistry(node, settings, factory)
    elif factory is not None:
        registry.factory = factory
    return registry


def host_of(address: str) -> str:
    """The host part of a member's "host:port" ("[v6]:port" included), without brackets."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"a member's address is host:port, not {address!r}")
    return host.strip("[]")


class SiteRegistry:
    """Remote drivers and node states of the site's other members, as this control plane last saw them."""

    def __init__(self, node, settings, factory=None):
        self.node = node
        self.settings = settings
        self.factory = factory or (lambda name, host: RemoteDriver.for_node(settings, name, host))
        self.hosts: dict[str, str] = {}    # member -> the host its registered driver reaches
        self.seen: dict[str, str] = {}     # member -> "up" | "down", as this loop last wrote it
        self.measured: dict[str, float] = {}   # member -> when its capacity was last asked (capacity.interval)
        self.clock = time.monotonic
        self.lock = threading.Lock()       # one round at a time (the loop; a request's follow beside it)
        self.followed = float("-inf")      # when follow last read the members file

    def me(self) -> set[str]:
        return {self.node.host, membership.node_name(self.settings)}

    def _listed(self, members: list[dict]) -> dict | None:
        """name -> member for every other node; None when the list is not the founder's yet (it always names the
        founder): an empty or foreign list must not take every node down."""
        own = self.me()
        if not any(isinstance(m, dict) and (m.get("name") in own or m.get("founder")) for m in members):
            return None
        return {m["name"]: m for m in members
                if isinstance(m, dict) and m.get("name") and not m.get("founder") and m["name"] not in own}

    def follow(self, members: list[dict]) -> None:
        """Drivers only: one for every listed member (built once per address), none for a removed one."""
        listed = self._listed(members)
        if listed is None:
            return
        with self.lock:
            for name, member in listed.items():
                try:
                    host = host_of(member.get("address", ""))
                except ValueError:
                    continue
                if self.hosts.get(name) != host:
                    self.node.register_driver(name, self.factory(name, host))
                    self.hosts[name] = host
            for name in [n for n in list(self.hosts) if n not in listed]:
                self.node.unregister_driver(name)
                self.hosts.pop(name, None)

    def sync(self, members: list[dict]) -> dict:
        report = {"registered": [], "down": [], "up": [], "removed": [], "destroyed": [], "refreshed": [],
                  "errors": {}}
        own, listed = self.me(), self._listed(members)
        if listed is None:
            return report
        with self.lock, database.connection_context():
            for name, member in listed.items():
                try:
                    self._member(name, member, report)
                except Exception as exc:   # one bad node never stops the round: logged, retried next round
                    log.warning("site node %s: %s", name, exc)
                    report["errors"][name] = str(exc)
                    self._down(name, report)
            self._forget_removed(set(listed), own, report)
        return report

    # -- one member --------------------------------------------------------------------------------------------
    def _member(self, name: str, member: dict, report: dict) -> None:
        host = host_of(member.get("address", ""))
        online = member.get("status") == "online"
        came_back = self.seen.get(name) != "up"
        # a fresh driver for a new or moved node, and for one that comes back: it may have restarted with other
        # capabilities, which a RemoteDriver asks once and keeps
        if self.hosts.get(name) != host or (online and self.seen.get(name) == "down"):
            self.node.register_driver(name, self.factory(name, host))
            self.hosts[name] = host
            report["registered"].append(name)
        if not online:
            self._down(name, report)
            return
        driver = self.node.drivers()[name]
        try:
            domains = driver.list_domains()   # every round: the agent answers, or the node is down for us
            row = ComputeNode.get_or_none(ComputeNode.host == name)
            if not (came_back or row is None):
                if self.clock() - self.measured.get(name, float("-inf")) >= capacity.interval(self.node.section):
                    # a running node: its capacity asked again, its state (an admin's force-down) kept
                    self.measured[name] = self.clock()
                    caps = driver.refresh_caps()
                    nodes.register(name, caps, self.node.section, address=member.get("address", ""), up=False)
                    report["refreshed"].append(name)
                return
            report["destroyed"] += destroy_stale(name, driver, domains)
            caps = driver.host_caps()
        except DriverError as exc:
            log.warning("site node %s is online but its compute agent is not: %s", name, exc)
            report["errors"][name] = str(exc)
            self._down(name, report)
            return
        nodes.register(name, caps, self.node.section, address=member.get("address", ""))
        self.measured[name] = self.clock()
        self.seen[name] = "up"
        report["up"].append(name)
        log.info("site node %s is up (%s vCPUs, %s MiB)", name, caps.cpus, caps.memory_mb)

    def _down(self, name: str, report: dict) -> None:
        # written on the change only: an admin's force-up of a node the cluster calls offline is theirs to make
        if self.seen.get(name) != "down":
            nodes.set_state(name, "down")
            self.seen[name] = "down"
            report["down"].append(name)

    def _forget_removed(self, listed: set, own: set, report: dict) -> None:
        """A node removed from the site: no driver any more; its row stays (its servers still exist), down."""
        for name in [n for n in list(self.hosts) if n not in listed]:
            self.node.unregister_driver(name)
            self.hosts.pop(name, None)
            self.seen.pop(name, None)
            report["removed"].append(name)
        gone = ComputeNode.select(ComputeNode.host).where(ComputeNode.host.not_in(listed | own)
                                                          & (ComputeNode.state == "up"))
        for row in gone:
            nodes.set_state(row.host, "down")
            report["down"].append(row.host)


# servers in these states may legitimately have a domain on a node other than their host: a resize or cold
# migration keeps the source's until it is confirmed or reverted
MOVING_STATES = frozenset({"resized"})


def destroy_stale(name: str, driver, domains: list[str]) -> list[str]:
    """A node that comes back may still run guests that were evacuated away or deleted while it was down: destroy
    them and their files there, so no server runs twice. A domain no server row knows is left alone (and
    logged): it is not this site's to destroy."""
    if not domains:
        return []
    # a domain is its node's prefix + the server's id; the row's domain_name may since name another node's
    # domain (a move renames it after the target's prefix), so the id is what ties a domain to its server
    ids = {domain: domain[len(driver.prefix):] for domain in domains if domain.startswith(driver.prefix)}
    rows = {inst.id: inst for inst in Instance.select().where(Instance.id.in_(list(ids.values())))}
    destroyed = []
    for domain in domains:
        inst = rows.get(ids.get(domain))
        if inst is None:
            log.warning("site node %s runs domain %s, which no server of this site names; left alone", name, domain)
            continue
        elsewhere = bool(inst.host) and inst.host != name
        if not inst.deleted and not elsewhere:
            continue
        if not inst.deleted and (inst.vm_state in MOVING_STATES or (inst.task_state or "").startswith("resize")):
            continue
        driver.destroy(domain)
        driver.delete_instance_files(inst.id)
        destroyed.append(domain)
        log.warning("site node %s came back with %s's guest %s (%s): destroyed", name, inst.id, domain,
                    "deleted" if inst.deleted else f"now on {inst.host}")
    return destroyed


# -- the loop -------------------------------------------------------------------------------------------------
def interval(settings) -> float:
    """The cluster's heartbeat interval: a node is down at most 3 of them (offline) + 1 (this loop) after its last
    heartbeat, 40 s with the defaults."""
    return membership.interval(settings)


def start(node, settings, stop: threading.Event | None = None) -> threading.Thread:
    """Run sync every heartbeat interval in the background (the compute service's lock-holding process)."""
    stop = stop or threading.Event()

    def loop():
        while not stop.wait(interval(settings)):
            try:
                report = sync(node, membership.read_members(settings), settings)
                if any(report.get(k) for k in ("registered", "down", "up", "removed", "destroyed")):
                    log.info("site nodes: %s", {k: v for k, v in report.items() if v})
            except Exception:   # the loop must outlive one bad round (a database hiccup)
                log.exception("site node sync failed")
    t = threading.Thread(target=loop, name="compute-site-nodes", daemon=True)
    t.start()
    return t
