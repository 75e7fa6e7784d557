"""Model → Neutron JSON document, exactly the keys the clients read."""
from __future__ import annotations

from appliance import routes
from services.network import models
from services.network.drivers import names


def _ts(dt) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def _std(obj) -> dict:
    return {"id": obj.id, "name": obj.name, "description": obj.description, "project_id": obj.project_id,
            "tenant_id": obj.project_id, "tags": list(obj.tags or []), "revision_number": obj.revision_number,
            "created_at": _ts(obj.created_at), "updated_at": _ts(obj.updated_at)}


def network(net: models.Network) -> dict:
    subnets = [s.id for s in models.Subnet.select(models.Subnet.id).where(models.Subnet.network == net.id)
               .order_by(models.Subnet.created_at, models.Subnet.id)]
    doc = _std(net)
    doc.update({
        "admin_state_up": net.admin_state_up, "status": net.status, "subnets": subnets, "shared": net.shared,
        "router:external": net.external, "mtu": net.mtu, "port_security_enabled": net.port_security_enabled,
        "provider:network_type": net.network_type, "provider:physical_network": net.physical_network,
        "provider:segmentation_id": net.segmentation_id, "qos_policy_id": net.qos_policy_id, "tsn:schedule": net.tsn,
        "vlan:egress_qos_map": net.egress_qos_map or [], "vlan:ingress_qos_map": net.ingress_qos_map or [],
        "availability_zones": ["nova"], "availability_zone_hints": [], "ipv4_address_scope": None,
        "ipv6_address_scope": None, "is_default": False, "l2_adjacency": True,
    })
    return doc


def subnet(sub: models.Subnet) -> dict:
    doc = _std(sub)
    doc.update({
        "network_id": sub.network_id, "ip_version": sub.ip_version, "cidr": sub.cidr, "gateway_ip": sub.gateway_ip,
        "allocation_pools": sub.allocation_pools, "dns_nameservers": sub.dns_nameservers,
        "host_routes": sub.host_routes, "enable_dhcp": sub.enable_dhcp, "ipv6_ra_mode": sub.ipv6_ra_mode,
        "ipv6_address_mode": sub.ipv6_address_mode, "subnetpool_id": None, "service_types": [],
        "segment_id": None, "dns_publish_fixed_ip": False,
    })
    return doc


def port(p: models.Port, bridge_prefix_net: str | None = None) -> dict:
    allocations = (models.IPAllocation.select().where(models.IPAllocation.port == p.id)
                   .order_by(models.IPAllocation.created_at, models.IPAllocation.id))
    doc = _std(p)
    bound = bool(p.host_id)
    doc.update({
        "network_id": p.network_id, "admin_state_up": p.admin_state_up, "status": p.status,
        "mac_address": p.mac_address,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in allocations],
        "device_id": p.device_id, "device_owner": p.device_owner,
        "allowed_address_pairs": p.allowed_address_pairs, "port_security_enabled": p.port_security_enabled,
        "security_groups": list(p.security_groups or []), "qos_policy_id": p.qos_policy_id,
        "dns_name": p.dns_name, "extra_dhcp_opts": p.extra_dhcp_opts,
        "binding:host_id": p.host_id, "binding:profile": p.binding_profile or {},
        "binding:vnic_type": p.vnic_type,
        "binding:vif_type": "bridge" if bound else "unbound",
        # the bridge as the port's node names it (a node tag renames links when several nodes share a machine)
        "binding:vif_details": ({"bridge_name": names.bridge(p.network_id, routes.manager().site.node_tag(p.host_id)),
                                 "port_filter": True,
                                 "connectivity": "l2"} if bound else {}),
    })
    return doc


def router(r: models.Router) -> dict:
    doc = _std(r)
    gateway = None
    if r.gw_network_id:
        gw_ips = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                  for a in models.IPAllocation.select().where(models.IPAllocation.port == r.gw_port_id)]
        gateway = {"network_id": r.gw_network_id, "enable_snat": r.enable_snat, "external_fixed_ips": gw_ips}
    doc.update({"admin_state_up": r.admin_state_up, "status": r.status, "external_gateway_info": gateway,
                "routes": r.routes, "distributed": False, "ha": False, "availability_zones": ["nova"],
                "availability_zone_hints": [], "flavor_id": None})
    return doc


def floatingip(f: models.FloatingIP) -> dict:
    # no "name" key: openstacksdk would map it onto floating_ip_address (reference §0.4)
    doc = _std(f)
    doc.pop("name")
    doc.update({"floating_network_id": f.floating_network_id, "floating_ip_address": f.floating_ip_address,
                "port_id": f.port_id, "fixed_ip_address": f.fixed_ip_address, "router_id": f.router_id,
                "status": f.status, "port_details": None, "port_forwardings": [], "dns_domain": "",
                "dns_name": "", "qos_policy_id": None})
    return doc


def sg_rule(r: models.SecurityGroupRule) -> dict:
    return {"id": r.id, "security_group_id": r.security_group_id, "direction": r.direction,
            "ethertype": r.ethertype, "protocol": r.protocol, "port_range_min": r.port_range_min,
            "port_range_max": r.port_range_max, "remote_ip_prefix": r.remote_ip_prefix,
            "remote_group_id": r.remote_group_id, "remote_address_group_id": None,
            "description": r.description, "project_id": r.project_id, "tenant_id": r.project_id,
            "revision_number": r.revision_number, "normalized_cidr": r.remote_ip_prefix,
            "created_at": _ts(r.created_at), "updated_at": _ts(r.updated_at)}


def security_group(sg: models.SecurityGroup) -> dict:
    doc = _std(sg)
    rules = models.SecurityGroupRule.select().where(models.SecurityGroupRule.security_group == sg.id)
    doc.update({"stateful": sg.stateful, "shared": False,
                "security_group_rules": [sg_rule(r) for r in rules.order_by(models.SecurityGroupRule.created_at)]})
    return doc


def qos_rule(r) -> dict:
    if isinstance(r, models.QosDscpMarkingRule):
        return {"id": r.id, "qos_policy_id": r.policy_id, "dscp_mark": r.dscp_mark, "type": "dscp_marking"}
    return {"id": r.id, "qos_policy_id": r.policy_id, "max_kbps": r.max_kbps, "max_burst_kbps": r.max_burst_kbps,
            "direction": r.direction, "type": "bandwidth_limit"}


def qos_policy(p: models.QosPolicy) -> dict:
    doc = _std(p)
    doc.update({"shared": p.shared, "is_default": p.is_default,
                "rules": [qos_rule(r) for model in (models.QosBandwidthLimitRule, models.QosDscpMarkingRule)
                          for r in model.select().where(model.policy == p.id).order_by(model.created_at)]})
    return doc
