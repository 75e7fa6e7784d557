"""Security groups and their rules (each project's `default` group made on first use); nftables applies them."""
from __future__ import annotations

import ipaddress

from services.network import models, render
from services.network.context import Ctx, owner_for
from services.network.errors import bad_request, conflict, invalid_input, not_found
from services.network.models import bump

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "gre": 47,
             "esp": 50, "ah": 51, "igmp": 2}


class SecurityGroups:
    """Composed into the Manager as `manager.security_groups`."""

    def __init__(self, manager):
        self.m = manager

    def ensure_default(self, project_id: str) -> models.SecurityGroup:
        """Every project gets a `default` group on first use: egress anywhere, ingress from its own members."""
        sg = models.SecurityGroup.get_or_none((models.SecurityGroup.project_id == project_id)
                                              & (models.SecurityGroup.name == "default"))
        if sg is not None:
            return sg
        with self.m.db.atomic():
            sg = models.SecurityGroup.create(project_id=project_id, name="default",
                                             description="Default security group")
            for ethertype in ("IPv4", "IPv6"):
                models.SecurityGroupRule.create(project_id=project_id, security_group=sg, direction="egress",
                                                ethertype=ethertype)
                models.SecurityGroupRule.create(project_id=project_id, security_group=sg, direction="ingress",
                                                ethertype=ethertype, remote_group_id=sg.id)
        return sg

    def get(self, ctx: Ctx, sg_id: str) -> models.SecurityGroup:
        sg = models.SecurityGroup.get_or_none(models.SecurityGroup.id == sg_id)
        if sg is None or not ctx.owns(sg.project_id):
            raise not_found("SecurityGroup", "Security group", sg_id)
        return sg

    def list(self, ctx: Ctx) -> list[dict]:
        if ctx.project_id:
            self.ensure_default(ctx.project_id)
        return [render.security_group(sg) for sg in models.SecurityGroup.select().order_by(models.SecurityGroup.created_at)
                if ctx.owns(sg.project_id)]

    def create(self, ctx: Ctx, body: dict) -> dict:
        owner = owner_for(ctx, body)
        if body.get("name") == "default" and models.SecurityGroup.select().where(
                (models.SecurityGroup.project_id == owner) & (models.SecurityGroup.name == "default")).exists():
            raise conflict("Default security group already exists.", "SecurityGroupDefaultAlreadyExists")
        self.ensure_default(owner)
        with self.m.db.atomic():
            self.m.quotas.check(owner, "security_group")
            sg = models.SecurityGroup.create(project_id=owner, name=body.get("name", ""),
                                             description=body.get("description", ""),
                                             stateful=body.get("stateful", True), tags=list(body.get("tags", [])))
            for ethertype in ("IPv4", "IPv6"):
                models.SecurityGroupRule.create(project_id=owner, security_group=sg, direction="egress",
                                                ethertype=ethertype)
        return render.security_group(sg)

    def update(self, ctx: Ctx, sg_id: str, body: dict) -> dict:
        sg = self.get(ctx, sg_id)
        if sg.name == "default" and body.get("name", "default") != "default":
            raise conflict("Updating default security group not allowed.", "SecurityGroupCannotUpdateDefault")
        if "stateful" in body and body["stateful"] != sg.stateful and self._ports_using(sg.id):
            # as Neutron: flipping the mode under live ports would mix modes on ports with several groups
            raise conflict(f"Cannot update the stateful attribute of security group {sg.id}: it is in use.",
                           "SecurityGroupInUse")
        bump(sg, **{k: body[k] for k in ("name", "description", "stateful") if k in body})
        self.m.sync()
        return render.security_group(sg)

    def delete(self, ctx: Ctx, sg_id: str) -> None:
        sg = self.get(ctx, sg_id)
        if sg.name == "default" and not ctx.all_projects:
            raise conflict("Removing default security group not allowed.", "SecurityGroupCannotRemoveDefault")
        with self.m.db.atomic():
            if self._ports_using(sg.id):
                raise conflict(f"Security Group {sg.id} in use.", "SecurityGroupInUse")
            if models.SecurityGroupRule.select().where(models.SecurityGroupRule.remote_group_id == sg.id,
                                                       models.SecurityGroupRule.security_group != sg.id).exists():
                raise conflict(f"Security Group {sg.id} in use as a remote group.", "SecurityGroupInUse")
            sg.delete_instance()
        self.m.sync()

    @staticmethod
    def _ports_using(sg_id: str) -> list[str]:
        return [p.id for p in models.Port.select(models.Port.id, models.Port.security_groups)
                if sg_id in (p.security_groups or [])]

    @staticmethod
    def check_one_mode(group_ids: list[str]) -> None:
        """A port's groups are all stateful or all stateless (Neutron refuses the mix too)."""
        modes = {sg.stateful for sg in models.SecurityGroup.select(models.SecurityGroup.stateful)
                 .where(models.SecurityGroup.id.in_(group_ids))}
        if len(modes) > 1:
            raise bad_request("Invalid input for field 'security_groups': cannot apply both stateful and stateless "
                              "security groups on the same port at the same time.", "HTTPBadRequest")

    def get_rule(self, ctx: Ctx, rule_id: str) -> models.SecurityGroupRule:
        r = models.SecurityGroupRule.get_or_none(models.SecurityGroupRule.id == rule_id)
        if r is None or not ctx.owns(r.project_id):
            raise not_found("SecurityGroupRule", "Security group rule", rule_id)
        return r

    def list_rules(self, ctx: Ctx) -> list[dict]:
        if ctx.project_id:
            self.ensure_default(ctx.project_id)
        return [render.sg_rule(r) for r in models.SecurityGroupRule.select().order_by(models.SecurityGroupRule.created_at)
                if ctx.owns(r.project_id)]

    def create_rule(self, ctx: Ctx, body: dict) -> dict:
        sg = self.get(ctx, body["security_group_id"])
        direction = body["direction"]
        ethertype = body.get("ethertype") or "IPv4"
        protocol = body.get("protocol")
        if protocol is not None:
            protocol = str(protocol).lower()
            if protocol in ("any", "0"):
                protocol = None
            elif protocol not in PROTOCOLS and not (protocol.isdigit() and 0 <= int(protocol) <= 255):
                raise bad_request(f"Security group rule protocol {body['protocol']} not supported. Only protocol "
                                  f"values {sorted(PROTOCOLS)} and integer representations [0 to 255] are supported.",
                                  "SecurityGroupRuleInvalidProtocol")
            if protocol == "ipv6-icmp":
                protocol = "icmpv6"
        if protocol in ("icmpv6",) and ethertype == "IPv4":
            raise bad_request("Protocol icmpv6 is only valid with ethertype IPv6.", "SecurityGroupRuleInvalidEtherType")
        pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
        if protocol in ("tcp", "udp", "sctp", "6", "17", "132"):
            if (pmin is None) != (pmax is None) and pmin is None:
                raise bad_request("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                                  "SecurityGroupInvalidPortRange")
            if pmin is not None:
                pmax = pmin if pmax is None else pmax
                if not (0 < pmin <= 65535 and 0 < pmax <= 65535) or pmin > pmax:
                    raise bad_request(f"Invalid port range {pmin}-{pmax}: ports are 1-65535 and "
                                      "port_range_min must be <= port_range_max.", "SecurityGroupInvalidPortRange")
        elif protocol in ("icmp", "icmpv6", "1", "58"):
            for name, v in (("port_range_min", pmin), ("port_range_max", pmax)):
                if v is not None and not 0 <= v <= 255:
                    raise bad_request(f"Invalid value for ICMP {name} (type/code): {v}. It must be 0 to 255.",
                                      "SecurityGroupInvalidIcmpValue")
            if pmin is None and pmax is not None:
                raise bad_request("ICMP code (port-range-max) is provided but ICMP type (port-range-min) is missing.",
                                  "SecurityGroupMissingIcmpType")
        elif pmin is not None or pmax is not None:
            raise bad_request("Port ranges are only valid for TCP, UDP, SCTP, ICMP and ICMPv6.",
                              "SecurityGroupInvalidPortRange")
        prefix = body.get("remote_ip_prefix")
        remote_group = body.get("remote_group_id")
        if prefix and remote_group:
            raise bad_request("Only remote_ip_prefix or remote_group_id may be provided.",
                              "SecurityGroupRemoteGroupAndRemoteIpPrefix")
        if prefix:
            try:
                net = ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise invalid_input(f"'{prefix}' is not a valid IP prefix for field 'remote_ip_prefix'.") from None
            if (net.version == 4) != (ethertype == "IPv4"):
                raise bad_request(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                                  "SecurityGroupRuleParameterConflict")
            prefix = str(net)
        if remote_group:
            self.get(ctx, remote_group)
        with self.m.db.atomic():
            self.m.quotas.check(sg.project_id, "security_group_rule")
            for r in models.SecurityGroupRule.select().where(models.SecurityGroupRule.security_group == sg.id):
                if (r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max, r.remote_ip_prefix,
                        r.remote_group_id) == (direction, ethertype, protocol, pmin, pmax, prefix, remote_group):
                    raise conflict(f"Security group rule already exists. Rule id is {r.id}.",
                                   "SecurityGroupRuleExists")
            rule = models.SecurityGroupRule.create(
                project_id=sg.project_id, security_group=sg, direction=direction, ethertype=ethertype,
                protocol=protocol, port_range_min=pmin, port_range_max=pmax, remote_ip_prefix=prefix,
                remote_group_id=remote_group, description=body.get("description", ""))
            bump(sg)
        self.m.sync()
        return render.sg_rule(rule)

    def delete_rule(self, ctx: Ctx, rule_id: str) -> None:
        rule = self.get_rule(ctx, rule_id)
        rule.delete_instance()
        self.m.sync()
