"""Routers (interfaces, external gateway with SNAT) and floating IPs: the L3 manager."""
from __future__ import annotations

import ipaddress

from services.network import ipam, models, render
from services.network.addresses import allocate, new_mac, resolve_fixed_ips
from services.network.context import Ctx, owner_for
from services.network.errors import bad_request, conflict, not_found
from services.network.models import FIP_OWNER, ROUTER_GW_OWNER, ROUTER_IF_OWNER, bump


class L3Manager:
    """Composed into the Manager as `manager.l3`; ports, subnets and networks come from the manager."""

    def __init__(self, manager):
        self.m = manager

    # ---------------------------------------------------------------- routers
    def get_router(self, ctx: Ctx, router_id: str) -> models.Router:
        r = models.Router.get_or_none(models.Router.id == router_id)
        if r is None or not ctx.owns(r.project_id):
            raise not_found("Router", "Router", router_id)
        return r

    def list_routers(self, ctx: Ctx) -> list[dict]:
        return [render.router(r) for r in models.Router.select().order_by(models.Router.created_at)
                if ctx.owns(r.project_id)]

    def _set_gateway(self, ctx: Ctx, router: models.Router, info) -> None:
        """Replace the router's gateway port per external_gateway_info (None or {} clears it)."""
        if info and not isinstance(info, dict):
            raise bad_request("Invalid input for external_gateway_info: must be an object.")
        new_net = (info or {}).get("network_id")
        if router.gw_port_id and (not new_net or new_net != router.gw_network_id):
            if models.FloatingIP.select().where(models.FloatingIP.router_id == router.id).exists():
                raise conflict(f"Gateway cannot be updated for router {router.id}, since a gateway to external "
                               "network is required by one or more floating IPs.", "RouterExternalGatewayInUseByFloatingIp")
            models.Port.delete().where(models.Port.id == router.gw_port_id).execute()
            router.gw_port_id = router.gw_network_id = None
        if not new_net:
            return
        net = self.m.get_network(ctx, new_net)
        if not net.external:
            raise bad_request(f"Bad router request: Network {net.id} is not a valid external network.",
                              "BadRequest")
        if "enable_snat" in info:
            router.enable_snat = bool(info["enable_snat"])
        if router.gw_port_id:
            return
        port = models.Port.create(project_id="", network=net, mac_address=new_mac(), device_id=router.id,
                                  device_owner=ROUTER_GW_OWNER, port_security_enabled=False)
        requested = info.get("external_fixed_ips") or []
        picks = resolve_fixed_ips(net, requested or None)
        if not picks:
            raise bad_request(f"Bad router request: external network {net.id} has no subnet.", "BadRequest")
        for sub, ip in picks:
            allocate(self.m.db, port, sub, ip)
        router.gw_port_id, router.gw_network_id = port.id, net.id

    def create_router(self, ctx: Ctx, body: dict) -> dict:
        owner = owner_for(ctx, body)
        with self.m.db.atomic():
            self.m.quotas.check(owner, "router")
            router = models.Router.create(project_id=owner, name=body.get("name", ""),
                                          description=body.get("description", ""),
                                          admin_state_up=body.get("admin_state_up", True),
                                          tags=list(body.get("tags", [])))
            if body.get("external_gateway_info"):
                self._set_gateway(ctx, router, body["external_gateway_info"])
                router.save()
        self.m.sync()
        return render.router(router)

    def update_router(self, ctx: Ctx, router_id: str, body: dict) -> dict:
        router = self.get_router(ctx, router_id)
        with self.m.db.atomic():
            if "external_gateway_info" in body:
                self._set_gateway(ctx, router, body["external_gateway_info"])
            if "routes" in body:
                for route in body["routes"] or []:
                    if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
                        raise bad_request("Invalid input for routes: each route needs 'destination' and 'nexthop'.")
                    ipam.parse_cidr(route["destination"], "routes/destination")
                    ipam.parse_ip(route["nexthop"], "routes/nexthop")
                router.routes = list(body["routes"] or [])
            changes = {k: body[k] for k in ("name", "description", "admin_state_up") if k in body}
            bump(router, **changes)
        self.m.sync()
        return render.router(router)

    def delete_router(self, ctx: Ctx, router_id: str) -> None:
        router = self.get_router(ctx, router_id)
        with self.m.db.atomic():
            if models.Port.select().where((models.Port.device_id == router.id)
                                          & (models.Port.device_owner == ROUTER_IF_OWNER)).exists():
                raise conflict(f"Router {router.id} still has ports", "RouterInUse")
            if models.FloatingIP.select().where(models.FloatingIP.router_id == router.id).exists():
                raise conflict(f"Router {router.id} still has floating IPs associated", "RouterInUse")
            if router.gw_port_id:
                models.Port.delete().where(models.Port.id == router.gw_port_id).execute()
            router.delete_instance()
        self.m.sync()

    def _interface_info(self, router, port) -> dict:
        subnets = [a.subnet_id for a in port.allocations]
        return {"id": router.id, "subnet_id": subnets[0] if subnets else None, "subnet_ids": subnets,
                "port_id": port.id, "network_id": port.network_id, "project_id": router.project_id,
                "tenant_id": router.project_id}

    def add_router_interface(self, ctx: Ctx, router_id: str, body: dict) -> dict:
        router = self.get_router(ctx, router_id)
        if not isinstance(body, dict) or bool(body.get("subnet_id")) == bool(body.get("port_id")):
            raise bad_request("Bad router request: Either subnet_id or port_id must be specified.")
        with self.m.db.atomic():
            if body.get("subnet_id"):
                sub = self.m.get_subnet(ctx, body["subnet_id"])
                if not ctx.owns(sub.network.project_id) and not sub.network.shared:
                    raise not_found("Subnet", "Subnet", sub.id)
                if not sub.gateway_ip:
                    raise bad_request(f"Bad router request: Subnet {sub.id} does not have a gateway IP.")
                self._check_router_subnet(router, sub)
                port = models.Port.create(project_id=router.project_id, network=sub.network_id,
                                          mac_address=new_mac(), device_id=router.id,
                                          device_owner=ROUTER_IF_OWNER, port_security_enabled=False)
                allocate(self.m.db, port, sub, sub.gateway_ip)
            else:
                port = self.m.get_port(ctx, body["port_id"])
                if port.device_id or port.device_owner:
                    raise conflict(f"Port {port.id} is in use by {port.device_owner or port.device_id}.", "PortInUse")
                allocations = list(port.allocations)
                if not allocations:
                    raise bad_request(f"Bad router request: Router port {port.id} must have at least one fixed IP.")
                for a in allocations:
                    self._check_router_subnet(router, a.subnet)
                port.device_id, port.device_owner, port.security_groups = router.id, ROUTER_IF_OWNER, []
                port.port_security_enabled = False
                port.save()
            bump(router)
        self.m.sync()
        return self._interface_info(router, port)

    def _check_router_subnet(self, router, sub) -> None:
        cidr = ipaddress.ip_network(sub.cidr)
        for p in models.Port.select().where((models.Port.device_id == router.id)
                                            & (models.Port.device_owner == ROUTER_IF_OWNER)):
            for a in p.allocations:
                if a.subnet_id == sub.id:
                    raise bad_request(f"Bad router request: Router already has a port on subnet {sub.id}.")
                if ipaddress.ip_network(a.subnet.cidr).overlaps(cidr):
                    raise bad_request(f"Bad router request: Cidr {cidr} of subnet {sub.id} overlaps with cidr "
                                      f"{a.subnet.cidr} of subnet {a.subnet_id}.")

    def remove_router_interface(self, ctx: Ctx, router_id: str, body: dict) -> dict:
        router = self.get_router(ctx, router_id)
        if not isinstance(body, dict) or not (body.get("subnet_id") or body.get("port_id")):
            raise bad_request("Bad router request: Either subnet_id or port_id must be specified.")
        ports = models.Port.select().where((models.Port.device_id == router.id)
                                           & (models.Port.device_owner == ROUTER_IF_OWNER))
        port = None
        for p in ports:
            if body.get("port_id") == p.id or body.get("subnet_id") in {a.subnet_id for a in p.allocations}:
                port = p
                break
        if port is None:
            if body.get("port_id"):
                raise not_found("RouterInterface", f"Router {router.id} does not have an interface with id",
                                body["port_id"])
            raise not_found("RouterInterface", f"Router {router.id} has no interface on subnet", body["subnet_id"])
        info = self._interface_info(router, port)
        with self.m.db.atomic():
            cidrs = [ipaddress.ip_network(a.subnet.cidr) for a in port.allocations]
            for fip in models.FloatingIP.select().where(models.FloatingIP.router_id == router.id):
                if fip.fixed_ip_address and any(ipaddress.ip_address(fip.fixed_ip_address) in c for c in cidrs):
                    raise conflict(f"Router interface for subnet {info['subnet_id']} on router {router.id} cannot be "
                                   f"deleted, as it is required by one or more floating IPs.",
                                   "RouterInterfaceInUseByFloatingIP")
            port.delete_instance()
            bump(router)
        self.m.sync()
        return info

    # ---------------------------------------------------------------- floating IPs
    def get_floatingip(self, ctx: Ctx, fip_id: str) -> models.FloatingIP:
        f = models.FloatingIP.get_or_none(models.FloatingIP.id == fip_id)
        if f is None or not ctx.owns(f.project_id):
            raise not_found("FloatingIP", "Floating IP", fip_id)
        return f

    def list_floatingips(self, ctx: Ctx) -> list[dict]:
        return [render.floatingip(f) for f in models.FloatingIP.select().order_by(models.FloatingIP.created_at)
                if ctx.owns(f.project_id)]

    def _associate(self, ctx: Ctx, fip: models.FloatingIP, port_id, fixed_ip) -> None:
        if not port_id:
            fip.port_id = fip.fixed_ip_address = fip.router_id = None
            fip.status = "DOWN"
            return
        port = models.Port.get_or_none(models.Port.id == port_id)
        if port is None or not ctx.owns(port.project_id) or (not ctx.all_projects and port.project_id != fip.project_id):
            raise not_found("Port", "Port", port_id)
        v4 = [a for a in port.allocations if ipaddress.ip_address(a.ip_address).version == 4]
        if fixed_ip:
            match = [a for a in v4 if a.ip_address == fixed_ip]
            if not match:
                raise bad_request(f"Bad floatingip request: Port {port.id} does not have fixed ip {fixed_ip}.")
            alloc = match[0]
        elif v4:
            alloc = v4[0]
        else:
            raise bad_request(f"Bad floatingip request: Port {port.id} does not have any IPv4 address.")
        other = models.FloatingIP.select().where((models.FloatingIP.port_id == port.id)
                                                 & (models.FloatingIP.fixed_ip_address == alloc.ip_address)
                                                 & (models.FloatingIP.id != fip.id)).first()
        if other is not None:
            raise conflict(f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port {port.id} "
                           f"using fixed IP {alloc.ip_address}, as that fixed IP already has a floating IP on "
                           f"external network {other.floating_network_id}.", "FloatingIPPortAlreadyAssociated")
        router = None
        for r in models.Router.select().where(models.Router.gw_network_id == fip.floating_network_id):
            if (models.Port.select().join(models.IPAllocation)
                    .where((models.Port.device_id == r.id) & (models.Port.device_owner == ROUTER_IF_OWNER)
                           & (models.IPAllocation.subnet == alloc.subnet_id)).exists()):
                router = r
                break
        if router is None:
            raise not_found("ExternalGatewayForFloatingIP",
                            f"External network {fip.floating_network_id} is not reachable from subnet "
                            f"{alloc.subnet_id}.  Therefore, cannot associate Port {port.id} with a Floating IP.", "")
        fip.port_id, fip.fixed_ip_address, fip.router_id, fip.status = port.id, alloc.ip_address, router.id, "ACTIVE"

    def create_floatingip(self, ctx: Ctx, body: dict) -> dict:
        owner = owner_for(ctx, body)
        net = models.Network.get_or_none(models.Network.id == body["floating_network_id"])
        if net is None or not self.m.network_visible(ctx, net):
            raise not_found("Network", "Network", body["floating_network_id"])
        if not net.external:
            raise bad_request(f"Bad floatingip request: Network {net.id} is not a valid external network.")
        with self.m.db.atomic():
            self.m.quotas.check(owner, "floatingip")
            fip = models.FloatingIP(project_id=owner, floating_network_id=net.id, floating_ip_address="",
                                    floating_port_id="", description=body.get("description", ""),
                                    tags=list(body.get("tags", [])))
            port = models.Port.create(project_id="", network=net, mac_address=new_mac(), device_id=fip.id,
                                      device_owner=FIP_OWNER, port_security_enabled=False)
            requested = None
            if body.get("floating_ip_address") or body.get("subnet_id"):
                entry = {k: body[k] for k in ("subnet_id",) if body.get(k)}
                if body.get("floating_ip_address"):
                    entry["ip_address"] = body["floating_ip_address"]
                requested = [entry]
            picks = resolve_fixed_ips(net, requested)
            v4 = [(s, ip) for s, ip in picks if s.ip_version == 4][:1]
            if not v4:
                raise bad_request(f"Bad floatingip request: external network {net.id} has no IPv4 subnet.")
            fip.floating_ip_address = allocate(self.m.db, port, v4[0][0], v4[0][1])
            fip.floating_port_id = port.id
            self._associate(ctx, fip, body.get("port_id"), body.get("fixed_ip_address"))
            fip.save(force_insert=True)
        self.m.sync()
        return render.floatingip(fip)

    def update_floatingip(self, ctx: Ctx, fip_id: str, body: dict) -> dict:
        fip = self.get_floatingip(ctx, fip_id)
        with self.m.db.atomic():
            if "port_id" in body:
                self._associate(ctx, fip, body["port_id"], body.get("fixed_ip_address"))
            changes = {k: body[k] for k in ("description",) if k in body}
            bump(fip, **changes)
        self.m.sync()
        return render.floatingip(fip)

    def delete_floatingip(self, ctx: Ctx, fip_id: str) -> None:
        fip = self.get_floatingip(ctx, fip_id)
        with self.m.db.atomic():
            models.Port.delete().where(models.Port.id == fip.floating_port_id).execute()
            fip.delete_instance()
        self.m.sync()
