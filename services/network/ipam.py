"""IP address management: CIDR and pool validation, gateway defaults, free-address search (pure functions)."""
from __future__ import annotations

import ipaddress

from services.network.errors import bad_request, conflict, invalid_input


def parse_cidr(cidr, field: str = "cidr"):
    if not isinstance(cidr, str):
        raise invalid_input(f"'{cidr}' is not a valid IP subnet for field '{field}'.")
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        try:
            fixed = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise invalid_input(f"'{cidr}' is not a valid IP subnet for field '{field}'.") from None
        raise invalid_input(f"'{cidr}' isn't a recognized IP subnet cidr for field '{field}', "
                            f"'{fixed}' is recommended.") from None
    return net


def parse_ip(value, field: str):
    try:
        return ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise invalid_input(f"'{value}' is not a valid IP address for field '{field}'.") from None


def usable_range(net) -> tuple:
    """First and last address a host may get (IPv4 skips network and broadcast addresses)."""
    if net.version == 4:
        if net.prefixlen >= 31:
            return net[0], net[-1]
        return net[1], net[-2]
    return net[1], net[-1]


def default_pools(net, gateway) -> list[dict]:
    first, last = usable_range(net)
    pools = []
    if gateway is None or not (first <= gateway <= last):
        return [{"start": str(first), "end": str(last)}]
    if first < gateway:
        pools.append({"start": str(first), "end": str(gateway - 1)})
    if gateway < last:
        pools.append({"start": str(gateway + 1), "end": str(last)})
    return pools


def check_pools(net, pools, gateway) -> list[dict]:
    if not isinstance(pools, list):
        raise bad_request("Invalid input for allocation_pools: must be a list of {start, end}.")
    ranges = []
    for pool in pools:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise bad_request("Invalid input for allocation_pools: each pool needs exactly 'start' and 'end'.")
        start = parse_ip(pool["start"], "allocation_pools/start")
        end = parse_ip(pool["end"], "allocation_pools/end")
        if start.version != net.version or end.version != net.version or start not in net or end not in net:
            raise bad_request(f"The allocation pool {start}-{end} spans beyond the subnet cidr {net}.",
                              "OutOfBoundsAllocationPool")
        if start > end:
            raise bad_request(f"The allocation pool {start}-{end} is invalid: start is after end.",
                              "InvalidAllocationPool")
        ranges.append((start, end))
    ranges.sort()
    for (s1, e1), (s2, e2) in zip(ranges, ranges[1:]):
        if s2 <= e1:
            raise bad_request(f"Found overlapping allocation pools: {s1}-{e1} and {s2}-{e2}.",
                              "OverlappingAllocationPools")
    if gateway is not None:
        for s, e in ranges:
            if s <= gateway <= e:
                raise conflict(f"Gateway ip {gateway} conflicts with allocation pool {s}-{e}.",
                               "GatewayConflictWithAllocationPools")
    return [{"start": str(s), "end": str(e)} for s, e in ranges]


def first_free(pools: list[dict], used: set[str]):
    """The lowest address of the pools not in `used`, or None."""
    for pool in pools:
        addr = ipaddress.ip_address(pool["start"])
        end = ipaddress.ip_address(pool["end"])
        while addr <= end:
            if str(addr) not in used:
                return str(addr)
            addr += 1
    return None


def in_pools(pools: list[dict], ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return any(ipaddress.ip_address(p["start"]) <= a <= ipaddress.ip_address(p["end"]) for p in pools)
