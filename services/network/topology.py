"""Builds the driver's desired Topology from the database (the single input of apply and reconcile)."""
from __future__ import annotations

import ipaddress
from collections import defaultdict

from services.network import models
from services.network.drivers import base, names

_PORT_OWNERS_WITHOUT_TAP = ("network:floatingip", "network:router_gateway", "network:router_interface",
                            "network:dhcp")


def _hostname(port: models.Port, ip: str) -> str:
    return port.dns_name or "host-" + ip.replace(".", "-").replace(":", "-")


def build_topology(settings, prefix: str) -> base.Topology:
    conf = settings.section("network")
    domain = conf.get("dns_domain", "openstacklocal")
    nets = {n.id: n for n in models.Network.select()}
    subnets = {s.id: s for s in models.Subnet.select()}
    ports = list(models.Port.select())
    allocs = defaultdict(list)
    for a in models.IPAllocation.select():
        allocs[a.port_id].append(a)

    def addresses(port) -> list[str]:
        out = []
        for a in allocs[port.id]:
            prefixlen = ipaddress.ip_network(subnets[a.subnet_id].cidr).prefixlen
            out.append(f"{a.ip_address}/{prefixlen}")
        return out

    # this node's VTEP peers; on a site the member list (not the settings) will feed them
    topo = base.Topology(vxlan_peers=list(conf.get("vxlan_peers") or []))
    for n in nets.values():
        topo.networks.append(base.NetSpec(id=n.id, bridge=names.bridge(n.id), network_type=n.network_type,
                                          physical_network=n.physical_network, segmentation_id=n.segmentation_id,
                                          mtu=n.mtu, external=n.external, tsn=n.tsn,
                                          egress_qos=list(n.egress_qos_map or []),
                                          ingress_qos=list(n.ingress_qos_map or [])))
    by_net = defaultdict(list)
    for p in ports:
        by_net[p.network_id].append(p)

    for p in ports:
        if p.device_owner != "network:dhcp" or not p.admin_state_up:
            continue
        net = nets[p.network_id]
        specs = [base.SubnetSpec(id=s.id, cidr=s.cidr, ip_version=s.ip_version, gateway_ip=s.gateway_ip,
                                 dns_nameservers=list(s.dns_nameservers), host_routes=list(s.host_routes), mtu=net.mtu)
                 for s in subnets.values() if s.network_id == net.id and s.enable_dhcp]
        hosts = []
        for q in by_net[net.id]:
            if q.device_owner == "network:dhcp":
                continue
            for a in allocs[q.id]:
                if subnets[a.subnet_id].enable_dhcp:
                    hosts.append(base.DhcpHost(mac=q.mac_address, ip=a.ip_address, hostname=_hostname(q, a.ip_address),
                                               device_id=q.device_id, project_id=q.project_id))
        iface = base.Iface(port_id=p.id, tap=names.tap(p.id), inner=names.dhcp_inner(p.id), mac=p.mac_address,
                           bridge=names.bridge(net.id), addresses=addresses(p))
        topo.dhcp.append(base.DhcpSpec(network_id=net.id, netns=names.dhcp_netns(prefix, net.id), iface=iface,
                                       subnets=specs, hosts=hosts, domain=domain))

    fips = defaultdict(list)
    for f in models.FloatingIP.select().where(models.FloatingIP.router_id.is_null(False)):
        fips[f.router_id].append((f.floating_ip_address, f.fixed_ip_address))
    for r in models.Router.select():
        spec = base.RouterSpec(id=r.id, netns=names.router_netns(prefix, r.id), interfaces=[], snat=r.enable_snat,
                               routes=list(r.routes), floating_ips=sorted(fips[r.id]))
        for p in ports:
            if p.device_id == r.id and p.device_owner == "network:router_interface":
                spec.interfaces.append(base.Iface(port_id=p.id, tap=names.tap(p.id), inner=names.router_inner(p.id),
                                                  mac=p.mac_address, bridge=names.bridge(p.network_id),
                                                  addresses=addresses(p)))
                spec.internal_cidrs += [subnets[a.subnet_id].cidr for a in allocs[p.id]
                                        if subnets[a.subnet_id].ip_version == 4]
        gw = next((p for p in ports if p.id == r.gw_port_id), None)
        if gw is not None:
            spec.gateway = base.Iface(port_id=gw.id, tap=names.tap(gw.id), inner=names.gateway_inner(gw.id),
                                      mac=gw.mac_address, bridge=names.bridge(gw.network_id), addresses=addresses(gw))
            for a in allocs[gw.id]:
                if subnets[a.subnet_id].gateway_ip and subnets[a.subnet_id].ip_version == 4:
                    spec.gateway_nexthop = subnets[a.subnet_id].gateway_ip
                    break
        topo.routers.append(spec)

    topo.ports = _port_specs(ports, nets, subnets, allocs)
    return topo


def _port_specs(ports, nets, subnets, allocs) -> list[base.PortSpec]:
    groups = defaultdict(list)        # sg id -> member IPs (for remote-group rules)
    for p in ports:
        for sg in p.security_groups or []:
            groups[sg] += [a.ip_address for a in allocs[p.id]]
            groups[sg] += [pair["ip_address"] for pair in p.allowed_address_pairs or []]
    rules_by_sg = defaultdict(list)
    for r in models.SecurityGroupRule.select():
        rules_by_sg[r.security_group_id].append(r)
    stateless = {sg.id for sg in models.SecurityGroup.select(models.SecurityGroup.id)
                 .where(models.SecurityGroup.stateful == False)}  # noqa: E712
    qos_rules = defaultdict(dict)
    for r in models.QosBandwidthLimitRule.select():
        qos_rules[r.policy_id][r.direction] = (r.max_kbps, r.max_burst_kbps)
    marks = {r.policy_id: r.dscp_mark for r in models.QosDscpMarkingRule.select()}

    specs = []
    for p in ports:
        if p.device_owner.startswith(_PORT_OWNERS_WITHOUT_TAP):
            continue
        spec = base.PortSpec(id=p.id, tap=names.tap(p.id), bridge=names.bridge(p.network_id), mac=p.mac_address,
                             ips=[a.ip_address for a in allocs[p.id]], allowed_pairs=list(p.allowed_address_pairs or []),
                             port_security=p.port_security_enabled,
                             stateful=not (set(p.security_groups or []) & stateless))
        for sg in p.security_groups or []:
            for r in rules_by_sg[sg]:
                remote = None
                if r.remote_ip_prefix:
                    remote = [r.remote_ip_prefix]
                elif r.remote_group_id:
                    version = 4 if r.ethertype == "IPv4" else 6
                    remote = sorted({ip for ip in groups[r.remote_group_id]
                                     if ipaddress.ip_network(ip, strict=False).version == version})
                spec.rules.append(base.SgRule(direction=r.direction, ethertype=r.ethertype, protocol=r.protocol,
                                              port_min=r.port_range_min, port_max=r.port_range_max,
                                              remote_prefixes=remote))
        policy = p.qos_policy_id or nets[p.network_id].qos_policy_id
        if policy:
            limits = qos_rules.get(policy, {})
            if "egress" in limits:
                spec.egress_kbps, spec.egress_burst_kbps = limits["egress"]
            if "ingress" in limits:
                spec.ingress_kbps, spec.ingress_burst_kbps = limits["ingress"]
            spec.dscp_mark = marks.get(policy)
        specs.append(spec)
    return specs
