"""pyroute2 helpers: bridges, VXLAN/VLAN uplinks, veth pairs into namespaces, addresses and routes, idempotently."""
from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import os
import signal
import subprocess

from pyroute2 import IPRoute, NetNS, netns
from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger("egret.network.linux")


def owner_alias(prefix: str) -> str:
    """Every root-namespace link we create carries this ifalias, so reconcile knows what is ours."""
    return f"egret:{prefix}"


def list_netns() -> list[str]:
    return netns.listnetns()


def ensure_netns(name: str) -> None:
    if name not in netns.listnetns():
        netns.create(name)


def remove_netns(name: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        netns.remove(name)


@contextlib.contextmanager
def ns(name: str | None):
    """An IPRoute in the root namespace (name None) or in netns `name`."""
    ipr = IPRoute() if name is None else NetNS(name)
    try:
        yield ipr
    finally:
        ipr.close()


def links_by_name(ipr) -> dict[str, dict]:
    out = {}
    for link in ipr.get_links():
        name = link.get("ifname")
        out[name] = {"index": link["index"], "alias": link.get("ifalias"), "master": link.get("master"),
                     "up": bool(link["flags"] & 1), "oper": link.get("operstate"), "kind": _kind(link),
                     "mac": link.get("address"), "mtu": link.get("mtu")}
    return out


def _kind(link) -> str | None:
    info = link.get(("IFLA_LINKINFO", "IFLA_INFO_KIND")) if hasattr(link, "get") else None
    if info:
        return info
    linkinfo = link.get_attr("IFLA_LINKINFO")
    return linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None


def ensure_bridge(ipr, name: str, alias: str, mtu: int) -> int:
    links = links_by_name(ipr)
    if name not in links:
        ipr.link("add", ifname=name, kind="bridge", br_forward_delay=0, br_stp_state=0)
        links = links_by_name(ipr)
    idx = links[name]["index"]
    if links[name]["alias"] != alias:
        ipr.link("set", index=idx, ifalias=alias)
    ipr.link("set", index=idx, state="up")
    return idx


def ensure_vxlan(ipr, name: str, vni: int, bridge_idx: int, alias: str, mtu: int, local: str | None,
                 port: int, learning: bool | None = True) -> int:
    """The network's VXLAN device on its bridge; rebuilt when its VNI, port, VTEP or learning mode changed
    (learning None: keep the device's)."""
    links = links_by_name(ipr)
    checked = 3 if learning is None else 4
    if name in links and _vxlan_config(ipr, links[name]["index"])[:checked] != (vni, port, local, learning)[:checked]:
        ipr.link("del", index=links[name]["index"])         # these attributes are fixed at creation
        links.pop(name)
    if name not in links:
        kwargs = {"ifname": name, "kind": "vxlan", "vxlan_id": vni, "vxlan_port": port,
                  "vxlan_learning": int(learning is not False)}
        if local:
            kwargs["vxlan_local6" if ":" in local else "vxlan_local"] = local
        ipr.link("add", **kwargs)
        links = links_by_name(ipr)
    idx = links[name]["index"]
    ipr.link("set", index=idx, ifalias=alias, master=bridge_idx, mtu=mtu, state="up")
    return idx


def _vxlan_config(ipr, idx: int) -> tuple:
    data = ipr.get_links(idx)[0].get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
    local = data.get_attr("IFLA_VXLAN_LOCAL") or data.get_attr("IFLA_VXLAN_LOCAL6")
    return (data.get_attr("IFLA_VXLAN_ID"), data.get_attr("IFLA_VXLAN_PORT"), local,
            bool(data.get_attr("IFLA_VXLAN_LEARNING")))


FLOOD_MAC = "00:00:00:00:00:00"


def _remote_entries(ipr, idx: int, default_port: int) -> list[tuple[str, str, int]]:
    """(mac, VTEP, port) of every FDB entry of the device at `idx` that sends to a remote VTEP."""
    out = []
    for entry in ipr.fdb("dump", ifindex=idx):
        if entry["ifindex"] == idx and entry.get_attr("NDA_DST"):
            out.append((entry.get_attr("NDA_LLADDR"), entry.get_attr("NDA_DST"),
                        entry.get_attr("NDA_PORT") or default_port))
    return out


def flood_list(ipr, idx: int, default_port: int) -> set[tuple[str, int]]:
    """The (VTEP, port) pairs the device at `idx` floods to now: its all-zeros FDB entries, read from the kernel."""
    return {(dst, port) for mac, dst, port in _remote_entries(ipr, idx, default_port) if mac == FLOOD_MAC}


def sync_flood_list(ipr, idx: int, wanted: set[tuple[str, int]], default_port: int) -> None:
    """Head-end replication: one all-zeros entry per remote VTEP. Entries towards any other VTEP go, learned
    ones too: a node that left the site must not keep receiving a network's unicast until the entry ages out."""
    entries = _remote_entries(ipr, idx, default_port)
    for mac, dst, port in entries:
        if (dst, port) not in wanted:
            with contextlib.suppress(NetlinkError):
                ipr.fdb("del", ifindex=idx, lladdr=mac, dst=dst, **_port(port, default_port))
    have = {(dst, port) for mac, dst, port in entries if mac == FLOOD_MAC}
    for dst, port in sorted(wanted - have):
        ipr.fdb("append", ifindex=idx, lladdr=FLOOD_MAC, dst=dst, **_port(port, default_port))


def _port(port: int, default_port: int) -> dict:
    return {} if port == default_port else {"port": port}


def underlay_mtu(ipr, local: str | None) -> int | None:
    """The MTU of the interface that holds this node's VTEP address (None when unknown)."""
    if not local:
        return None
    family = 10 if ":" in local else 2
    for a in ipr.get_addr(family=family):
        if (a.get_attr("IFA_LOCAL") or a.get_attr("IFA_ADDRESS")) == local:
            return ipr.get_links(a["index"])[0].get_attr("IFLA_MTU")
    return None


def ensure_vlan(ipr, name: str, parent: str, vid: int, bridge_idx: int, alias: str,
                egress: list[dict] = (), ingress: list[dict] = ()) -> None:
    """802.1Q uplink with its priority maps (canonical, services.network.pcp); raises NetlinkError(EOPNOTSUPP) on
    kernels without 8021q (DESIGN.md §9)."""
    links = links_by_name(ipr)
    if name not in links:
        ipr.link("add", ifname=name, kind="vlan", link=links[parent]["index"], vlan_id=vid)
        links = links_by_name(ipr)
    idx = links[name]["index"]
    ipr.link("set", index=idx, ifalias=alias, master=bridge_idx, state="up")
    want = (list(egress), list(ingress))
    held = vlan_qos(ipr, idx)
    if held == want:
        return
    # the kernel keeps a mapping until it is set to 0: clear what is no longer wanted
    out = {e["priority"]: 0 for e in held[0]} | {e["priority"]: e["pcp"] for e in want[0]}
    into = {pcp: 0 for pcp in range(8)} | {e["pcp"]: e["priority"] for e in want[1]}
    ipr.link("set", index=idx, kind="vlan",
             vlan_egress_qos={"attrs": [("IFLA_VLAN_QOS_MAPPING", {"from": p, "to": c}) for p, c in out.items()]},
             vlan_ingress_qos={"attrs": [("IFLA_VLAN_QOS_MAPPING", {"from": c, "to": p}) for c, p in into.items()]})
    held = vlan_qos(ipr, idx)
    if held != want:
        raise RuntimeError(f"{name}: the kernel holds priority maps {held} after setting {want}")


def vlan_qos(ipr, idx: int) -> tuple[list[dict], list[dict]]:
    """A VLAN link's (egress, ingress) priority maps as the kernel holds them, in canonical form."""
    info = ipr.get_links(idx)[0].get_attr("IFLA_LINKINFO")
    data = info.get_attr("IFLA_INFO_DATA") if info else None

    def mappings(attr: str) -> list[tuple[int, int]]:
        qos = data.get_attr(attr) if data else None
        return [(m["from"], m["to"]) for m in qos.get_attrs("IFLA_VLAN_QOS_MAPPING")] if qos else []
    egress = sorted(({"priority": f, "pcp": t} for f, t in mappings("IFLA_VLAN_EGRESS_QOS") if t),
                    key=lambda e: e["priority"])
    ingress = sorted(({"priority": t, "pcp": f} for f, t in mappings("IFLA_VLAN_INGRESS_QOS") if t),
                     key=lambda e: e["pcp"])
    return egress, ingress


def enslave(ipr, name: str, bridge_idx: int, links: dict[str, dict] | None = None) -> bool:
    """Put `name` on the bridge, up. `links`: a links_by_name() dump to reuse (one per sync, not one per port)."""
    links = links if links is not None else links_by_name(ipr)
    if name not in links:
        return False
    if links[name]["master"] != bridge_idx:
        ipr.link("set", index=links[name]["index"], master=bridge_idx)
    if not links[name]["up"]:
        ipr.link("set", index=links[name]["index"], state="up")
    return True


def ensure_veth(root, tap: str, inner: str, netns_name: str, bridge_idx: int | None, alias: str, mac: str,
                mtu: int) -> None:
    """Root end `tap` on the bridge; `inner` (with the port's MAC) inside `netns_name`."""
    links = links_by_name(root)
    with ns(netns_name) as inside:
        inner_links = links_by_name(inside)
        if tap in links and inner not in inner_links:
            root.link("del", index=links[tap]["index"])     # half a pair: start over
            links.pop(tap)
        if inner in inner_links and tap not in links:
            inside.link("del", index=inner_links[inner]["index"])
            inner_links.pop(inner)
        if tap not in links:
            root.link("add", ifname=tap, kind="veth", peer={"ifname": inner, "net_ns_fd": netns_name})
            links = links_by_name(root)
            inner_links = links_by_name(inside)
        idx = links[tap]["index"]
        kwargs = {"ifalias": alias, "mtu": mtu, "state": "up"}
        if bridge_idx is not None:
            kwargs["master"] = bridge_idx
        root.link("set", index=idx, **kwargs)
        i_idx = inner_links[inner]["index"]
        if (inner_links[inner]["mac"] or "").lower() != mac.lower():
            inside.link("set", index=i_idx, state="down")
            inside.link("set", index=i_idx, address=mac)
        inside.link("set", index=i_idx, mtu=mtu, state="up")
        lo = inner_links.get("lo")
        if lo and not lo["up"]:
            inside.link("set", index=lo["index"], state="up")


def sync_addresses(ipr, ifname: str, wanted: list[str]) -> list[str]:
    """Make the global addresses of `ifname` equal `wanted` ("ip/len"); returns the ones added."""
    idx = ipr.link_lookup(ifname=ifname)[0]
    have = set()
    for a in ipr.get_addr(index=idx):
        if a.get("scope", 0) == 0 or a["family"] == 2:
            addr = a.get_attr("IFA_ADDRESS") if a["family"] == 10 else (a.get_attr("IFA_LOCAL") or a.get_attr("IFA_ADDRESS"))
            if a["family"] == 10 and ipaddress.ip_address(addr).is_link_local:
                continue
            have.add(f"{addr}/{a['prefixlen']}")
    want = {str(ipaddress.ip_interface(w)) for w in wanted}
    added = []
    for extra in have - want:
        ip, plen = extra.split("/")
        with contextlib.suppress(NetlinkError):
            ipr.addr("del", index=idx, address=ip, prefixlen=int(plen))
    for missing in sorted(want - have):
        ip, plen = missing.split("/")
        try:
            ipr.addr("add", index=idx, address=ip, prefixlen=int(plen), **({"nodad": True} if ":" in ip else {}))
            added.append(ip)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
    return added


def sync_default_route(ipr, gateway: str | None, ifname: str | None) -> None:
    routes = [r for r in ipr.get_routes(family=2, table=254) if r["dst_len"] == 0]
    current = routes[0].get_attr("RTA_GATEWAY") if routes else None
    if current == gateway:
        return
    for _ in routes:
        with contextlib.suppress(NetlinkError):
            ipr.route("del", dst="0.0.0.0/0")
    if gateway:
        ipr.route("add", dst="0.0.0.0/0", gateway=gateway, oif=ipr.link_lookup(ifname=ifname)[0])


def sync_routes(ipr, routes: list[dict]) -> None:
    """Extra static routes (router `routes`); ours are marked with protocol 'static' (4)."""
    have = {}
    for r in ipr.get_routes(family=2, table=254):
        if r["proto"] == 4 and r["dst_len"] > 0:
            have[f"{r.get_attr('RTA_DST')}/{r['dst_len']}"] = r.get_attr("RTA_GATEWAY")
    want = {str(ipaddress.ip_network(r["destination"])): r["nexthop"] for r in routes
            if ":" not in r["destination"]}
    for dst, gw in have.items():
        if want.get(dst) != gw:
            with contextlib.suppress(NetlinkError):
                ipr.route("del", dst=dst, gateway=gw, proto=4)
    for dst, gw in want.items():
        if have.get(dst) != gw:
            with contextlib.suppress(NetlinkError):
                ipr.route("add", dst=dst, gateway=gw, proto=4)


def delete_link(ipr, name: str) -> None:
    idx = ipr.link_lookup(ifname=name)
    if idx:
        with contextlib.suppress(NetlinkError):
            ipr.link("del", index=idx[0])


def sysctl_in(netns_name: str, key: str, value: str) -> None:
    """Write a sysctl inside a namespace (/proc/sys/net is per netns)."""
    subprocess.run(["ip", "netns", "exec", netns_name, "sysctl", "-qw", f"{key}={value}"], check=True,
                   capture_output=True)


def pids_in_netns(name: str) -> list[int]:
    proc = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    return [int(p) for p in proc.stdout.split()]


def kill_netns_processes(name: str) -> None:
    for pid in pids_in_netns(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
