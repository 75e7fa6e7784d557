"""Neutron's agents, as the site's nodes make them: a Linux bridge agent per node, and on the founder (the network
node) the DHCP, L3 and metadata agents; alive when the node is online (`openstack network agent list`)."""
from __future__ import annotations

import datetime
import uuid

from appliance import pki
from appliance.cluster import membership
from services.network import nodes
from services.network.conf import section
from services.network.errors import not_found

NAMESPACE = uuid.UUID("5b0b3f4e-6f1d-4c39-9f65-6e6574776f72")   # agent ids: stable per (host, binary)
L2 = ("Linux bridge agent", "neutron-linuxbridge-agent", "N/A", None)
NETWORK_NODE = (("DHCP agent", "neutron-dhcp-agent", "dhcp_agent", "nova"),
                ("L3 agent", "neutron-l3-agent", "l3_agent", "nova"),
                ("Metadata agent", "neutron-metadata-agent", "N/A", None))


def _stamp(text: str | None) -> str:
    """Neutron's spelling ("2026-12-02 23:45:01") of a member's last heartbeat (ISO, UTC)."""
    if text:
        try:
            return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            pass
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _configurations(kind: str, conf: dict) -> dict:
    if kind == "Linux bridge agent":
        return {"interface_mappings": dict(conf.get("physical_interface_mappings", {})), "tunnel_types": ["vxlan"],
                "l2_population": False, "tunneling_ip": conf.get("vxlan_local_ip") or None,
                "extensions": ["qos"]}
    if kind == "DHCP agent":
        return {"dhcp_driver": "dnsmasq", "use_namespaces": True}
    if kind == "L3 agent":
        return {"agent_mode": "legacy", "use_namespaces": True}
    return {"metadata_proxy_socket": None}


def _agent(kind, binary, topic, zone, host: str, alive: bool, seen: str, conf: dict) -> dict:
    return {"id": str(uuid.uuid5(NAMESPACE, f"{host}/{binary}")), "agent_type": kind, "binary": binary,
            "topic": topic, "host": host, "admin_state_up": True, "alive": alive, "availability_zone": zone,
            "configurations": _configurations(kind, conf), "created_at": seen, "started_at": seen,
            "heartbeat_timestamp": seen, "description": None, "resources_synced": None}


def list_agents(settings) -> list[dict]:
    """Every node's agents; a box that is no site's control plane lists its own (it is its network node)."""
    conf = section(settings)
    site = nodes.site_nodes(settings)
    if site is None:
        info = nodes.site_info(settings)
        here = info["node"] if info else pki.node_name(settings)
        site, seen = [nodes.Node(here, "", True, True)], {}
    else:
        seen = {m.get("name"): m.get("last_seen") for m in membership.read_members(settings)}
    out = []
    for node in site:
        stamp = _stamp(seen.get(node.name))
        for kind in (L2, *(NETWORK_NODE if node.founder else ())):
            out.append(_agent(*kind, node.name, node.online or node.founder, stamp, conf))
    return out


def get_agent(settings, agent_id: str) -> dict:
    for doc in list_agents(settings):
        if doc["id"] == agent_id:
            return doc
    raise not_found("Agent", "Agent", agent_id)
