"""The network service's settings section, with defaults derived so that two state dirs never share names."""
from __future__ import annotations

import hashlib

# `make up` on a build machine: the external network's far side is a bridge in a namespace of ours
DEFAULT_UPSTREAM = {"physical_network": "public", "cidr": "203.0.113.1/24"}


def section(settings) -> dict:
    conf = settings.section("network")
    if not conf.get("prefix"):
        # one prefix per state dir: concurrent clouds on one machine (tests, peers) never touch each other's links
        conf["prefix"] = "e" + hashlib.sha256(str(settings.state_dir).encode()).hexdigest()[:5]
    upstream = conf.get("external_upstream", DEFAULT_UPSTREAM) or {}
    if upstream.get("physical_network"):
        upstream = {"interface": f"{conf['prefix']}ext0", **upstream}
    conf["external_upstream"] = upstream
    mappings = dict(conf.get("physical_interface_mappings", {}))
    if upstream.get("physical_network"):
        mappings.setdefault(upstream["physical_network"], upstream["interface"])
    conf["physical_interface_mappings"] = mappings
    return conf
