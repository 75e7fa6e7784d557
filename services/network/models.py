"""Neutron resources as peewee models: networks, subnets, ports, IP allocations, routers, floating IPs, SGs, QoS, quotas."""
from __future__ import annotations

import uuid

import peewee

from appliance.db import JSONField, model_base

database = peewee.DatabaseProxy()
Base = model_base(database)

# device_owner of the ports the service makes for itself
DHCP_OWNER = "network:dhcp"
ROUTER_IF_OWNER = "network:router_interface"
ROUTER_GW_OWNER = "network:router_gateway"
FIP_OWNER = "network:floatingip"


class Standard(Base):
    """Neutron's standard attributes every resource carries."""
    # dashed UUIDs as Neutron has them: taps and bridges are named from their first 11 characters
    id = peewee.CharField(primary_key=True, max_length=64, default=lambda: str(uuid.uuid4()))
    project_id = peewee.CharField(max_length=64, index=True)
    name = peewee.CharField(max_length=255, default="")
    description = peewee.CharField(max_length=255, default="")
    tags = JSONField(default=list)
    revision_number = peewee.IntegerField(default=0)


class Network(Standard):
    admin_state_up = peewee.BooleanField(default=True)
    status = peewee.CharField(max_length=16, default="ACTIVE")
    shared = peewee.BooleanField(default=False)
    external = peewee.BooleanField(default=False)
    mtu = peewee.IntegerField(default=1450)
    network_type = peewee.CharField(max_length=16, default="vxlan")
    physical_network = peewee.CharField(max_length=64, null=True)
    segmentation_id = peewee.IntegerField(null=True)
    port_security_enabled = peewee.BooleanField(default=True)
    qos_policy_id = peewee.CharField(max_length=64, null=True)
    tsn = JSONField(null=True)           # the canonical TSN schedule of its physical interface (services.network.tsn)
    egress_qos_map = JSONField(null=True)      # a VLAN network's priority maps (services.network.pcp)
    ingress_qos_map = JSONField(null=True)


class Subnet(Standard):
    network = peewee.ForeignKeyField(Network, backref="subnets", on_delete="CASCADE")
    ip_version = peewee.IntegerField(default=4)
    cidr = peewee.CharField(max_length=64)
    gateway_ip = peewee.CharField(max_length=64, null=True)
    allocation_pools = JSONField(default=list)
    dns_nameservers = JSONField(default=list)
    host_routes = JSONField(default=list)
    enable_dhcp = peewee.BooleanField(default=True)
    ipv6_ra_mode = peewee.CharField(max_length=32, null=True)
    ipv6_address_mode = peewee.CharField(max_length=32, null=True)


class Port(Standard):
    network = peewee.ForeignKeyField(Network, backref="ports", on_delete="CASCADE")
    admin_state_up = peewee.BooleanField(default=True)
    status = peewee.CharField(max_length=16, default="DOWN")
    mac_address = peewee.CharField(max_length=32, unique=True)
    device_id = peewee.CharField(max_length=255, default="", index=True)
    device_owner = peewee.CharField(max_length=255, default="")
    host_id = peewee.CharField(max_length=255, default="")
    binding_profile = JSONField(default=dict)
    vnic_type = peewee.CharField(max_length=32, default="normal")
    allowed_address_pairs = JSONField(default=list)
    port_security_enabled = peewee.BooleanField(default=True)
    security_groups = JSONField(default=list)
    qos_policy_id = peewee.CharField(max_length=64, null=True)
    dns_name = peewee.CharField(max_length=255, default="")
    extra_dhcp_opts = JSONField(default=list)


class IPAllocation(Base):
    port = peewee.ForeignKeyField(Port, backref="allocations", on_delete="CASCADE")
    subnet = peewee.ForeignKeyField(Subnet, backref="allocations", on_delete="CASCADE")
    network_id = peewee.CharField(max_length=64, index=True)
    ip_address = peewee.CharField(max_length=64)

    class Meta:
        indexes = ((("subnet", "ip_address"), True),)


class Router(Standard):
    admin_state_up = peewee.BooleanField(default=True)
    status = peewee.CharField(max_length=16, default="ACTIVE")
    gw_port_id = peewee.CharField(max_length=64, null=True)
    gw_network_id = peewee.CharField(max_length=64, null=True)
    enable_snat = peewee.BooleanField(default=True)
    routes = JSONField(default=list)


class FloatingIP(Standard):
    floating_network_id = peewee.CharField(max_length=64, index=True)
    floating_ip_address = peewee.CharField(max_length=64)
    floating_port_id = peewee.CharField(max_length=64)
    port_id = peewee.CharField(max_length=64, null=True, index=True)
    fixed_ip_address = peewee.CharField(max_length=64, null=True)
    router_id = peewee.CharField(max_length=64, null=True)
    status = peewee.CharField(max_length=16, default="DOWN")


class SecurityGroup(Standard):
    stateful = peewee.BooleanField(default=True)


class SecurityGroupRule(Base):
    project_id = peewee.CharField(max_length=64, index=True)
    security_group = peewee.ForeignKeyField(SecurityGroup, backref="rules", on_delete="CASCADE")
    direction = peewee.CharField(max_length=8)
    ethertype = peewee.CharField(max_length=8, default="IPv4")
    protocol = peewee.CharField(max_length=16, null=True)
    port_range_min = peewee.IntegerField(null=True)
    port_range_max = peewee.IntegerField(null=True)
    remote_ip_prefix = peewee.CharField(max_length=64, null=True)
    remote_group_id = peewee.CharField(max_length=64, null=True)
    description = peewee.CharField(max_length=255, default="")
    revision_number = peewee.IntegerField(default=0)


class QosPolicy(Standard):
    shared = peewee.BooleanField(default=False)
    is_default = peewee.BooleanField(default=False)


class QosBandwidthLimitRule(Base):
    policy = peewee.ForeignKeyField(QosPolicy, backref="rules", on_delete="CASCADE")
    max_kbps = peewee.IntegerField()
    max_burst_kbps = peewee.IntegerField(default=0)
    direction = peewee.CharField(max_length=8, default="egress")


class QosDscpMarkingRule(Base):
    policy = peewee.ForeignKeyField(QosPolicy, backref="dscp_rules", on_delete="CASCADE")
    dscp_mark = peewee.IntegerField()


class Quota(Base):
    project_id = peewee.CharField(max_length=64)
    resource = peewee.CharField(max_length=64)
    hard_limit = peewee.IntegerField()

    class Meta:
        indexes = ((("project_id", "resource"), True),)


ALL = [Network, Subnet, Port, IPAllocation, Router, FloatingIP, SecurityGroup, SecurityGroupRule,
       QosPolicy, QosBandwidthLimitRule, QosDscpMarkingRule, Quota]


def bump(obj, **changes) -> None:
    """Apply `changes` and save with the next revision_number (Neutron's standard-attr-revisions)."""
    for k, v in changes.items():
        setattr(obj, k, v)
    obj.revision_number += 1
    obj.save()
