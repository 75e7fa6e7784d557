"""Step 3: the management network: a discovered NIC, DHCP or static CIDR + gateway + DNS, optional VLAN."""
from __future__ import annotations

import ipaddress

from firstboot import steps  # its registry (BY_NAME) is read at call time, after every step has loaded
from firstboot.steps import StepError, check_schema

NAME = "network"
TITLE = "Management network"
APPLY_ORDER = 20
SCHEMA = {
    "type": "object",
    "properties": {
        "interface": {"type": "string", "maxLength": 15},
        "mode": {"enum": ["dhcp", "static"]},
        "address": {"type": "string", "maxLength": 64},
        "gateway": {"type": "string", "maxLength": 64},
        "dns": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 4},
        "vlan": {"type": ["integer", "null"]},
    },
    "required": ["interface", "mode"],
    "additionalProperties": False,
}


def from_form(form) -> dict:
    out = {"interface": form.get("interface", ""), "mode": form.get("mode", "")}
    for key in ("address", "gateway"):
        if form.get(key, "").strip():
            out[key] = form.get(key, "").strip()
    out["dns"] = steps.BY_NAME["box"].split_list(form.get("dns", ""))
    vlan = form.get("vlan", "").strip()
    if vlan:
        out["vlan"] = int(vlan) if vlan.isdigit() else vlan  # a non-number fails the schema, naming 'vlan'
    return out


def validate(answers: dict, ctx) -> dict:
    check_schema(answers, SCHEMA)
    nics = {n["name"]: n for n in ctx.interfaces()}
    if answers["interface"] not in nics:
        raise StepError("interface", f"There is no interface named {answers['interface']!r} on this box; "
                                     f"found: {', '.join(sorted(nics)) or 'none'}.")
    out = {"interface": answers["interface"], "mode": answers["mode"], "vlan": answers.get("vlan")}
    if out["vlan"] is not None and not 1 <= out["vlan"] <= 4094:
        raise StepError("vlan", "A VLAN id is between 1 and 4094.")
    if answers["mode"] == "static":
        raw = answers.get("address", "")
        if not raw:
            raise StepError("address", "A static address is required, in CIDR form such as 192.168.1.10/24.")
        if "/" not in raw:
            raise StepError("address", f"{raw!r} has no prefix length; write it in CIDR form, e.g. {raw}/24.")
        try:
            iface = ipaddress.ip_interface(raw)
        except ValueError:
            raise StepError("address", f"{raw!r} is not a valid address in CIDR form (e.g. 192.168.1.10/24).") \
                from None
        net = iface.network
        if iface.version == 4 and net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
            raise StepError("address", f"{iface.ip} is the network or broadcast address of {net}; "
                                       "pick a host address.")
        out["address"] = str(iface)
        gw = answers.get("gateway")
        if gw:
            try:
                gateway = ipaddress.ip_address(gw)
            except ValueError:
                raise StepError("gateway", f"{gw!r} is not a valid IP address.") from None
            if gateway not in net:
                raise StepError("gateway", f"The gateway {gateway} is outside the subnet {net} of {iface}.")
            if gateway == iface.ip:
                raise StepError("gateway", "The gateway cannot be the box's own address.")
            out["gateway"] = str(gateway)
    elif answers.get("address") or answers.get("gateway"):
        field = "address" if answers.get("address") else "gateway"
        raise StepError(field, "With DHCP the address and gateway come from the DHCP server; leave them empty.")
    dns, seen = [], set()
    for i, server in enumerate(answers.get("dns", [])):
        try:
            ip = ipaddress.ip_address(server.strip())
        except ValueError:
            raise StepError(f"dns/{i}", f"DNS server {server!r} is not a valid IP address.") from None
        if ip in seen:
            raise StepError(f"dns/{i}", f"DNS server {ip} is listed twice.")
        seen.add(ip)
        dns.append(str(ip))
    out["dns"] = dns
    return out


def summary(answers: dict) -> list[tuple[str, str]]:
    rows = [("Interface", answers["interface"] + (f" (VLAN {answers['vlan']})" if answers.get("vlan") else ""))]
    if answers["mode"] == "static":
        rows += [("Address", answers["address"]), ("Gateway", answers.get("gateway") or "none")]
    else:
        rows += [("Address", f"DHCP (got {answers.get('obtained_address', '?')})")]
    rows.append(("DNS", ", ".join(answers.get("dns", [])) or "none"))
    return rows


def management_ip(answers: dict) -> str | None:
    addr = answers.get("address") if answers.get("mode") == "static" else answers.get("obtained_address")
    return str(ipaddress.ip_interface(addr).ip) if addr else None


def config_sections(answers: dict, ctx) -> dict:
    sections = {"management_network": {k: v for k, v in answers.items() if v is not None}}
    ip = management_ip(answers)
    if ip:
        sections["@settings"] = {"public_host": ip, "bind_host": "0.0.0.0"}
    return sections


def apply(answers: dict, ctx):
    """The live change was made and confirmed on this step; here it is written down for the next boot."""
    return {"previous": ctx.system.persist_network(answers)}


def undo(record: dict, ctx) -> None:
    if record:
        ctx.system.restore_files(record["previous"])
