"""Addresses of ports: MACs, fixed IPs picked from a request, allocation on a subnet (shared by ports and L3)."""
from __future__ import annotations

import ipaddress
import random

import peewee

from services.network import ipam, models
from services.network.errors import bad_request, conflict


def new_mac() -> str:
    """A random MAC in OpenStack's fa:16:3e range that no port has."""
    while True:
        mac = "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))
        if not models.Port.select().where(models.Port.mac_address == mac).exists():
            return mac


def allocate(db, port: models.Port, sub: models.Subnet, ip: str | None) -> str:
    """Give `port` the address `ip` (or the first free one) on `sub`; a concurrent taker makes it look again."""
    requested = ip
    for _ in range(8):
        used = {a.ip_address for a in models.IPAllocation.select(models.IPAllocation.ip_address)
                .where(models.IPAllocation.subnet == sub.id)}
        if requested is None:
            ip = ipam.first_free(sub.allocation_pools, used)
            if ip is None:
                raise conflict(f"No more IP addresses available on network {sub.network_id}.",
                               "IpAddressGenerationFailure")
        else:
            if ip in used:
                raise conflict(f"IP address {ip} already allocated in subnet {sub.id}", "IpAddressAlreadyAllocated")
            if ip == sub.gateway_ip and port.device_owner != models.ROUTER_IF_OWNER:
                raise conflict(f"IP address {ip} already allocated in subnet {sub.id}: it is the gateway.",
                               "IpAddressAlreadyAllocated")
        try:
            with db.atomic():
                models.IPAllocation.create(port=port, subnet=sub, network_id=sub.network_id, ip_address=ip)
            return ip
        except peewee.IntegrityError:
            if requested is not None:
                raise conflict(f"IP address {ip} already allocated in subnet {sub.id}",
                               "IpAddressAlreadyAllocated") from None
            # a concurrent request took the same free address: look again
    raise conflict(f"Could not allocate an address on subnet {sub.id}; retry.", "IpAddressGenerationFailure")


def resolve_fixed_ips(net: models.Network, fixed_ips) -> list[tuple[models.Subnet, str | None]]:
    """The (subnet, address or None) picks of a port's fixed_ips (None: one address per IP version)."""
    subnets = list(models.Subnet.select().where(models.Subnet.network == net.id).order_by(models.Subnet.created_at))
    if fixed_ips is None:
        picks, seen = [], set()
        for sub in subnets:
            if sub.ip_version not in seen:
                seen.add(sub.ip_version)
                picks.append((sub, None))
        return picks
    if not isinstance(fixed_ips, list):
        raise bad_request("Invalid input for fixed_ips: must be a list.")
    picks = []
    for entry in fixed_ips:
        if not isinstance(entry, dict) or not entry or set(entry) - {"subnet_id", "ip_address"}:
            raise bad_request("Invalid input for fixed_ips: each entry takes 'subnet_id' and/or 'ip_address'.")
        ip = entry.get("ip_address")
        if ip is not None:
            ip = str(ipam.parse_ip(ip, "fixed_ips/ip_address"))
        if entry.get("subnet_id"):
            sub = next((s for s in subnets if s.id == entry["subnet_id"]), None)
            if sub is None:
                raise bad_request(f"Invalid input for operation: Failed to create port on network {net.id}, "
                                  f"because fixed_ips included invalid subnet {entry['subnet_id']}.",
                                  "InvalidInput")
            if ip is not None and ipaddress.ip_address(ip) not in ipaddress.ip_network(sub.cidr):
                raise bad_request(f"IP address {ip} is not a valid IP for the specified subnet.",
                                  "InvalidIpForSubnet")
        else:
            sub = next((s for s in subnets if ipaddress.ip_address(ip) in ipaddress.ip_network(s.cidr)), None)
            if sub is None:
                raise bad_request(f"IP address {ip} is not a valid IP for any of the subnets on the specified "
                                  "network.", "InvalidIpForNetwork")
        picks.append((sub, ip))
    return picks
