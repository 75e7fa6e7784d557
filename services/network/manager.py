"""Network logic: networks, subnets and ports; routers/FIPs, SGs, QoS and quotas are composed collaborators."""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import threading

from services.network import ipam, models, pcp, render, tsn
from services.network.addresses import allocate, new_mac, resolve_fixed_ips
from services.network.conf import section
from services.network.context import Ctx, owner_for
from services.network.drivers import names
from services.network.drivers.base import DriverError
from services.network.errors import bad_request, conflict, forbidden, invalid_input, not_found
from services.network.l3 import L3Manager
from services.network.nodes import SiteDataPlane
from services.network.models import DHCP_OWNER, ROUTER_IF_OWNER, bump
from services.network.qos import QosPolicies
from services.network.quotas import Quotas
from services.network.security import SecurityGroups
from services.network.topology import build_topology

log = logging.getLogger("egret.network")


@contextlib.contextmanager
def connected(db):
    """Use the thread's open connection, or open one for the block (connection_context would close a request's)."""
    if not db.is_closed():
        yield
        return
    db.connect()
    try:
        yield
    finally:
        db.close()


class Manager:
    """Networks, subnets, ports and the data-plane sync; the rest are collaborators with their own names:
    `l3` (routers, floating IPs), `security_groups`, `qos` (policies and rules), `quotas`."""

    def __init__(self, settings, driver, database):
        self.settings = settings
        self.driver = driver
        # on a site's control plane, every node's data plane (the founder's through `driver`, the others' agents)
        self.site = SiteDataPlane(settings, lambda: self.driver)
        self.db = database
        self.conf = section(settings)
        self.mappings = dict(self.conf["physical_interface_mappings"])
        self.vni_min = int(self.conf.get("vni_min", 1001))
        self.vni_max = int(self.conf.get("vni_max", 16000))
        self.dns_domain = self.conf.get("dns_domain", "openstacklocal")
        self._sync_lock = threading.Lock()  # held while applying; teardown takes it too
        self._sync_state = threading.Condition()
        self._sync_wanted = self._sync_done = 0
        self._sync_running = self._verify_wanted = False
        self.quotas = Quotas(self)
        self.qos = QosPolicies(self)
        self.security_groups = SecurityGroups(self)
        self.l3 = L3Manager(self)

    # ---------------------------------------------------------------- data plane
    def teardown(self) -> None:
        """Remove the whole data plane, after any pass in flight (a stopped `egret up` leaves nothing behind)."""
        with self._sync_lock:
            self.driver.teardown()

    def sync(self, verify: bool = False) -> None:
        """Push the DB's whole desired state to the driver; failures are logged, reconcile retries.

        Callers that arrive while a pass runs share the next one: a pass reads the DB after it starts, so it
        covers every change committed before then, and N ports created at once cost two passes, not N."""
        with self._sync_state:
            self._sync_wanted += 1
            ticket = self._sync_wanted
            self._verify_wanted |= verify
            while self._sync_done < ticket:
                if not self._sync_running:
                    break
                self._sync_state.wait()
            else:
                return  # a pass that started after this caller's commit has finished
            self._sync_running = True
            upto, verify, self._verify_wanted = self._sync_wanted, self._verify_wanted, False
        try:
            with self._sync_lock:
                with connected(self.db):
                    topology = build_topology(self.settings, self.driver.prefix)
                    bindings = {p.id: p.host_id for p in models.Port.select(models.Port.id, models.Port.host_id)}
                self.site.apply(topology, bindings, verify=verify)
        except Exception:
            log.exception("data plane sync failed; the reconcile loop retries")
        finally:
            with self._sync_state:
                self._sync_running, self._sync_done = False, upto
                self._sync_state.notify_all()

    def refresh_port_status(self) -> int:
        """Port status follows the tap: ACTIVE when it is up on its bridge (on the node the port is bound to).
        Returns how many changed. A port whose node cannot say (offline, its agent down) keeps its status."""
        changed = 0
        with connected(self.db):
            ports = list(models.Port.select())
            taps: dict[str | None, list[str]] = {}
            for p in ports:
                taps.setdefault(p.host_id or None, []).append(names.tap(p.id))
            states = self.site.port_states(taps)
            for p in ports:
                if names.tap(p.id) not in states:
                    continue
                want = "ACTIVE" if (states.get(names.tap(p.id)) and p.admin_state_up) else "DOWN"
                if p.status != want:
                    models.Port.update(status=want).where(models.Port.id == p.id).execute()
                    changed += 1
        return changed

    @staticmethod
    def set_tags(obj, tags: list[str]) -> None:
        """Replace the tags of any taggable resource (a new revision, as every change)."""
        bump(obj, tags=list(tags))

    # ---------------------------------------------------------------- networks
    def network_visible(self, ctx: Ctx, net: models.Network) -> bool:
        return ctx.owns(net.project_id) or net.shared or net.external

    def get_network(self, ctx: Ctx, network_id: str) -> models.Network:
        net = models.Network.get_or_none(models.Network.id == network_id)
        if net is None or not self.network_visible(ctx, net):
            raise not_found("Network", "Network", network_id)
        return net

    def list_networks(self, ctx: Ctx) -> list[dict]:
        return [render.network(n) for n in models.Network.select().order_by(models.Network.created_at)
                if self.network_visible(ctx, n)]

    def _segment(self, body: dict) -> tuple[str, str | None, int | None, int]:
        ntype = body.get("provider:network_type") or "vxlan"
        physnet = body.get("provider:physical_network")
        seg = body.get("provider:segmentation_id")
        if ntype == "vxlan":
            if physnet:
                raise invalid_input("provider:physical_network must not be set for a vxlan network.")
            used = {n.segmentation_id for n in models.Network.select(models.Network.segmentation_id)
                    .where(models.Network.network_type == "vxlan")}
            if seg is None:
                free = next((v for v in range(self.vni_min, self.vni_max + 1) if v not in used), None)
                if free is None:
                    raise conflict("Unable to create the network. No tenant network is available for allocation.",
                                   "NoNetworkAvailable")
                seg = free
            elif not 1 <= seg <= 16777215:
                raise invalid_input(f"provider:segmentation_id {seg} is outside the VXLAN range 1-16777215.")
            elif seg in used:
                raise conflict(f"Unable to create the network. The segmentation ID {seg} is in use.",
                               "TunnelIdInUse")
            return ntype, None, seg, int(self.conf.get("vxlan_mtu", 1450))
        if physnet is None:
            raise invalid_input(f"provider:physical_network is required for a {ntype} network.")
        if physnet not in self.mappings:
            raise invalid_input(f"physical_network '{physnet}' unknown for {ntype} provider network.")
        same = models.Network.select().where((models.Network.physical_network == physnet)
                                             & (models.Network.network_type == ntype))
        if ntype == "flat":
            if seg is not None:
                raise invalid_input("provider:segmentation_id must not be set for a flat network.")
            if same.exists():
                raise conflict(f"Unable to create the flat network. Physical network {physnet} is in use.",
                               "FlatNetworkInUse")
            return ntype, physnet, None, 1500
        if seg is None or not 1 <= seg <= 4094:
            raise invalid_input("provider:segmentation_id must be 1-4094 for a vlan network.")
        if same.where(models.Network.segmentation_id == seg).exists():
            raise conflict(f"Unable to create the network. The VLAN {seg} on physical network {physnet} is in use.",
                           "VlanIdInUse")
        return ntype, physnet, seg, 1500

    def _tsn_schedule(self, body: dict, ntype: str, physnet: str | None, network_id: str | None) -> dict | None:
        """The canonical form of the body's tsn:schedule, checked against the interface's transmit queues."""
        schedule = body.get("tsn:schedule")
        if schedule is None:
            return None
        if ntype not in ("flat", "vlan"):
            raise invalid_input("tsn:schedule shapes a physical interface: only flat and vlan provider networks "
                                "have one.")
        other = models.Network.get_or_none((models.Network.physical_network == physnet)
                                           & models.Network.tsn.is_null(False)
                                           & (models.Network.id != (network_id or "")))
        if other is not None:
            raise conflict(f"Physical network {physnet} already carries the TSN schedule of network {other.id}; "
                           "an interface has one schedule.", "TsnScheduleInUse")
        try:
            queues = self.driver.tx_queues(physnet)
        except (DriverError, OSError, RuntimeError) as exc:
            # the node that holds the interface checks the queues again when it applies the schedule
            log.warning("tx queues of %s unknown: %s", physnet, exc)
            queues = None
        try:
            return tsn.normalize(schedule, queues)
        except tsn.ScheduleError as exc:
            raise invalid_input(str(exc)) from None

    @staticmethod
    def _vlan_maps(body: dict, ntype: str) -> dict:
        """The body's VLAN priority maps in canonical form, by column (absent: unchanged; null: none)."""
        out = {}
        for attribute, column in ((pcp.EGRESS, "egress_qos_map"), (pcp.INGRESS, "ingress_qos_map")):
            if attribute not in body:
                continue
            if body[attribute] and ntype != "vlan":
                raise invalid_input(f"{attribute} applies to the 802.1Q tag: only vlan networks have one.")
            try:
                out[column] = pcp.normalize(attribute, body[attribute])
            except pcp.MapError as exc:
                raise invalid_input(str(exc)) from None
        return out

    def create_network(self, ctx: Ctx, body: dict) -> dict:
        owner = owner_for(ctx, body)
        with self.db.atomic():
            self.quotas.check(owner, "network")
            ntype, physnet, seg, mtu = self._segment(body)
            if body.get("mtu") is not None:
                if body["mtu"] > mtu or body["mtu"] < 68:
                    raise invalid_input(f"Requested MTU {body['mtu']} is above the maximum {mtu} of this network type.")
                mtu = body["mtu"]
            if body.get("qos_policy_id"):
                self.qos.get(ctx, body["qos_policy_id"])
            schedule = self._tsn_schedule(body, ntype, physnet, None)
            maps = self._vlan_maps(body, ntype)
            net = models.Network.create(
                project_id=owner, name=body.get("name", ""), description=body.get("description", ""),
                admin_state_up=body.get("admin_state_up", True), shared=bool(body.get("shared", False)),
                external=bool(body.get("router:external", False)), mtu=mtu, network_type=ntype,
                physical_network=physnet, segmentation_id=seg,
                port_security_enabled=body.get("port_security_enabled", True),
                qos_policy_id=body.get("qos_policy_id"), tags=list(body.get("tags", [])), tsn=schedule, **maps)
        self.sync()
        return render.network(net)

    def update_network(self, ctx: Ctx, network_id: str, body: dict) -> dict:
        net = self.get_network(ctx, network_id)
        if not ctx.owns(net.project_id):
            raise not_found("Network", "Network", network_id)
        if any(k in body for k in ("provider:network_type", "provider:physical_network", "provider:segmentation_id")):
            raise bad_request("Provider attributes of a network cannot be changed.", "InvalidInput")
        changes = {}
        for key, attr in (("name", "name"), ("description", "description"), ("admin_state_up", "admin_state_up"),
                          ("shared", "shared"), ("router:external", "external"),
                          ("port_security_enabled", "port_security_enabled"), ("qos_policy_id", "qos_policy_id")):
            if key in body:
                changes[attr] = body[key]
        if "mtu" in body:
            if not 68 <= body["mtu"] <= (int(self.conf["vxlan_mtu"]) if net.network_type == "vxlan" else 1500):
                raise invalid_input(f"Requested MTU {body['mtu']} is out of range for this network type.")
            changes["mtu"] = body["mtu"]
        if changes.get("qos_policy_id"):
            self.qos.get(ctx, changes["qos_policy_id"])
        if "tsn:schedule" in body:
            changes["tsn"] = self._tsn_schedule(body, net.network_type, net.physical_network, net.id)
        changes.update(self._vlan_maps(body, net.network_type))
        if changes.get("external") is False and models.Router.select().where(
                models.Router.gw_network_id == net.id).exists():
            raise conflict(f"Unable to complete operation on network {net.id}. There are routers using it as "
                           "their gateway.", "NetworkInUse")
        bump(net, **changes)
        self.sync()
        return render.network(net)

    def delete_network(self, ctx: Ctx, network_id: str) -> None:
        net = self.get_network(ctx, network_id)
        if not ctx.owns(net.project_id):
            raise not_found("Network", "Network", network_id)
        with self.db.atomic():
            busy = models.Port.select().where((models.Port.network == net.id) & (models.Port.device_owner != DHCP_OWNER))
            if busy.exists():
                raise conflict(f"Unable to complete operation on network {net.id}. There are one or more ports "
                               "still in use on the network.", "NetworkInUse")
            models.Port.delete().where(models.Port.network == net.id).execute()
            models.Subnet.delete().where(models.Subnet.network == net.id).execute()
            net.delete_instance()
        self.sync()

    # ---------------------------------------------------------------- subnets
    def get_subnet(self, ctx: Ctx, subnet_id: str) -> models.Subnet:
        sub = models.Subnet.get_or_none(models.Subnet.id == subnet_id)
        if sub is None or not self.network_visible(ctx, sub.network):
            raise not_found("Subnet", "Subnet", subnet_id)
        return sub

    def list_subnets(self, ctx: Ctx) -> list[dict]:
        return [render.subnet(s) for s in models.Subnet.select().order_by(models.Subnet.created_at)
                if self.network_visible(ctx, s.network)]

    def _check_routes_dns(self, net, body: dict) -> None:
        for ns in body.get("dns_nameservers", []):
            ipam.parse_ip(ns, "dns_nameservers")
        for route in body.get("host_routes", []):
            if not isinstance(route, dict) or set(route) != {"destination", "nexthop"}:
                raise bad_request("Invalid input for host_routes: each route needs 'destination' and 'nexthop'.")
            ipam.parse_cidr(route["destination"], "host_routes/destination")
            ipam.parse_ip(route["nexthop"], "host_routes/nexthop")

    def create_subnet(self, ctx: Ctx, body: dict) -> dict:
        net = self.get_network(ctx, body["network_id"])
        if not ctx.owns(net.project_id):
            raise forbidden(f"Only the owner of network {net.id} or an admin may add subnets to it.")
        owner = owner_for(ctx, body) if (body.get("project_id") or body.get("tenant_id")) else net.project_id
        if "cidr" not in body:
            raise bad_request("Invalid input for field 'cidr': a cidr is required (subnet pools are not implemented).")
        cidr = ipam.parse_cidr(body["cidr"])
        version = body.get("ip_version", 4)
        if version != cidr.version:
            raise invalid_input(f"Cidr {cidr} does not match ip_version {version}.")
        if (version == 4 and cidr.prefixlen > 30) or (version == 6 and cidr.prefixlen > 126):
            raise invalid_input(f"Cidr {cidr} is too small: it leaves no room for hosts.")
        gateway = None
        if "gateway_ip" not in body:
            gateway = ipam.usable_range(cidr)[0]
        elif body["gateway_ip"] is not None:
            gateway = ipam.parse_ip(body["gateway_ip"], "gateway_ip")
            first, last = ipam.usable_range(cidr)
            if gateway.version != cidr.version or not first <= gateway <= last:
                raise bad_request(f"Gateway IP {gateway} is not a valid host address of subnet {cidr}.",
                                  "InvalidInput")
        self._check_routes_dns(net, body)
        pools = (ipam.check_pools(cidr, body["allocation_pools"], gateway) if body.get("allocation_pools")
                 else ipam.default_pools(cidr, gateway))
        with self.db.atomic():
            self.quotas.check(owner, "subnet")
            for other in models.Subnet.select().where(models.Subnet.network == net.id):
                if ipaddress.ip_network(other.cidr).overlaps(cidr):
                    raise invalid_input(f"Requested subnet with cidr: {cidr} for network: {net.id} overlaps with "
                                        f"another subnet.")
            sub = models.Subnet.create(
                project_id=owner, network=net, name=body.get("name", ""), description=body.get("description", ""),
                ip_version=version, cidr=str(cidr), gateway_ip=str(gateway) if gateway else None,
                allocation_pools=pools, dns_nameservers=list(body.get("dns_nameservers", [])),
                host_routes=list(body.get("host_routes", [])), enable_dhcp=body.get("enable_dhcp", True),
                ipv6_ra_mode=body.get("ipv6_ra_mode"), ipv6_address_mode=body.get("ipv6_address_mode"),
                tags=list(body.get("tags", [])))
            self._ensure_dhcp_port(net)
        self.sync()
        return render.subnet(sub)

    def update_subnet(self, ctx: Ctx, subnet_id: str, body: dict) -> dict:
        sub = self.get_subnet(ctx, subnet_id)
        if not ctx.owns(sub.project_id):
            raise not_found("Subnet", "Subnet", subnet_id)
        for key in ("cidr", "ip_version", "network_id"):
            if key in body:
                raise bad_request(f"Cannot update read-only attribute {key}.", "HTTPBadRequest")
        cidr = ipaddress.ip_network(sub.cidr)
        self._check_routes_dns(sub.network, body)
        changes = {k: body[k] for k in ("name", "description", "dns_nameservers", "host_routes", "enable_dhcp")
                   if k in body}
        gateway = ipaddress.ip_address(sub.gateway_ip) if sub.gateway_ip else None
        if "gateway_ip" in body:
            gateway = None if body["gateway_ip"] is None else ipam.parse_ip(body["gateway_ip"], "gateway_ip")
            if gateway is not None and gateway not in cidr:
                raise bad_request(f"Gateway IP {gateway} is not in subnet {cidr}.", "InvalidInput")
            changes["gateway_ip"] = str(gateway) if gateway else None
        if "allocation_pools" in body:
            changes["allocation_pools"] = ipam.check_pools(cidr, body["allocation_pools"], gateway)
        with self.db.atomic():
            bump(sub, **changes)
            self._ensure_dhcp_port(sub.network)
        self.sync()
        return render.subnet(sub)

    def delete_subnet(self, ctx: Ctx, subnet_id: str) -> None:
        sub = self.get_subnet(ctx, subnet_id)
        if not ctx.owns(sub.project_id):
            raise not_found("Subnet", "Subnet", subnet_id)
        with self.db.atomic():
            users = (models.IPAllocation.select().join(models.Port)
                     .where((models.IPAllocation.subnet == sub.id) & (models.Port.device_owner != DHCP_OWNER)))
            if users.exists():
                raise conflict(f"Unable to complete operation on subnet {sub.id}: One or more ports have an IP "
                               "allocation from this subnet.", "SubnetInUse")
            models.IPAllocation.delete().where(models.IPAllocation.subnet == sub.id).execute()
            net = sub.network
            sub.delete_instance()
            self._ensure_dhcp_port(net)
        self.sync()

    def _ensure_dhcp_port(self, net: models.Network) -> None:
        """One network:dhcp port per network, with an address on every DHCP-enabled subnet."""
        dhcp_subnets = list(models.Subnet.select().where((models.Subnet.network == net.id) & models.Subnet.enable_dhcp))
        port = models.Port.get_or_none((models.Port.network == net.id) & (models.Port.device_owner == DHCP_OWNER))
        if not dhcp_subnets:
            if port is not None:
                port.delete_instance()
            return
        if port is None:
            port = models.Port.create(project_id=net.project_id, network=net, mac_address=new_mac(),
                                      device_id=f"dhcp-{net.id}", device_owner=DHCP_OWNER,
                                      port_security_enabled=False, status="ACTIVE")
        have = {a.subnet_id for a in port.allocations}
        for sub in dhcp_subnets:
            if sub.id not in have:
                allocate(self.db, port, sub, None)
        wanted = {s.id for s in dhcp_subnets}
        models.IPAllocation.delete().where((models.IPAllocation.port == port.id)
                                           & models.IPAllocation.subnet.not_in(list(wanted))).execute()

    # ---------------------------------------------------------------- ports
    def port_visible(self, ctx: Ctx, port: models.Port) -> bool:
        return ctx.owns(port.project_id) or ctx.owns(port.network.project_id)

    def get_port(self, ctx: Ctx, port_id: str) -> models.Port:
        port = models.Port.get_or_none(models.Port.id == port_id)
        if port is None or not self.port_visible(ctx, port):
            raise not_found("Port", "Port", port_id)
        return port

    def list_ports(self, ctx: Ctx) -> list[dict]:
        ports = models.Port.select(models.Port, models.Network).join(models.Network).order_by(models.Port.created_at)
        return [render.port(p) for p in ports if self.port_visible(ctx, p)]

    def _check_pairs(self, pairs) -> list[dict]:
        out = []
        for pair in pairs or []:
            if not isinstance(pair, dict) or "ip_address" not in pair or set(pair) - {"ip_address", "mac_address"}:
                raise bad_request("Invalid input for allowed_address_pairs: each pair needs 'ip_address'.")
            try:
                ipaddress.ip_network(pair["ip_address"], strict=False)
            except ValueError:
                raise invalid_input(f"'{pair['ip_address']}' is not a valid IP address or CIDR for "
                                    "allowed_address_pairs.") from None
            out.append(dict(pair))
        return out

    def port_network(self, ctx: Ctx, network_id: str) -> models.Network:
        """The network a new port of the caller goes on: its own or a shared one (an external one is not)."""
        net = self.get_network(ctx, network_id)
        if not (ctx.owns(net.project_id) or net.shared):
            # another project's network is invisible to the caller, so it "does not exist"
            raise not_found("Network", "Network", net.id)
        return net

    def create_port(self, ctx: Ctx, body: dict) -> dict:
        net = self.port_network(ctx, body["network_id"])
        owner = owner_for(ctx, body)
        mac = body.get("mac_address")
        if mac is not None:
            if not isinstance(mac, str) or not re.fullmatch(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", mac) \
                    or int(mac[:2], 16) & 1:
                raise invalid_input(f"'{mac}' is not a valid MAC address for field 'mac_address'.")
            mac = mac.lower()
            if models.Port.select().where(models.Port.mac_address == mac).exists():
                raise conflict(f"Unable to complete operation for network {net.id}. The mac address {mac} is in use.",
                               "MacAddressInUse")
        owner_kind = body.get("device_owner", "")
        port_security = body.get("port_security_enabled", net.port_security_enabled)
        pairs = self._check_pairs(body.get("allowed_address_pairs"))
        if pairs and not port_security:
            raise conflict("Port Security must be enabled in order to have allowed address pairs on a port.",
                           "AddressPairAndPortSecurityRequired")
        if body.get("security_groups") and not port_security:
            raise conflict("Port has security group associated. Cannot disable port security or IP address until "
                           "security group is removed.", "PortSecurityPortHasSecurityGroup")
        with self.db.atomic():
            self.quotas.check(owner, "port")
            if "security_groups" in body:
                groups = [self.security_groups.get(ctx, g).id for g in body["security_groups"] or []]
                self.security_groups.check_one_mode(groups)
            elif port_security and not owner_kind.startswith("network:"):
                groups = [self.security_groups.ensure_default(owner).id]
            else:
                groups = []
            if body.get("qos_policy_id"):
                self.qos.get(ctx, body["qos_policy_id"])
            picks = resolve_fixed_ips(net, body.get("fixed_ips"))
            port = models.Port.create(
                project_id=owner, network=net, name=body.get("name", ""), description=body.get("description", ""),
                admin_state_up=body.get("admin_state_up", True), mac_address=mac or new_mac(),
                device_id=body.get("device_id", ""), device_owner=owner_kind,
                host_id=body.get("binding:host_id", ""), binding_profile=body.get("binding:profile", {}),
                vnic_type=body.get("binding:vnic_type", "normal"), allowed_address_pairs=pairs,
                port_security_enabled=port_security, security_groups=groups,
                qos_policy_id=body.get("qos_policy_id"), dns_name=body.get("dns_name", ""),
                extra_dhcp_opts=body.get("extra_dhcp_opts", []), tags=list(body.get("tags", [])))
            for sub, ip in picks:
                allocate(self.db, port, sub, ip)
        self.sync()
        return render.port(port)

    def update_port(self, ctx: Ctx, port_id: str, body: dict) -> dict:
        port = self.get_port(ctx, port_id)
        if not ctx.owns(port.project_id) and not ctx.binds_ports:
            raise not_found("Port", "Port", port_id)
        if "network_id" in body and body["network_id"] != port.network_id:
            raise bad_request("Cannot update read-only attribute network_id.", "HTTPBadRequest")
        changes = {}
        for key, attr in (("name", "name"), ("description", "description"), ("admin_state_up", "admin_state_up"),
                          ("device_id", "device_id"), ("device_owner", "device_owner"),
                          ("binding:host_id", "host_id"), ("binding:profile", "binding_profile"),
                          ("binding:vnic_type", "vnic_type"), ("port_security_enabled", "port_security_enabled"),
                          ("qos_policy_id", "qos_policy_id"), ("dns_name", "dns_name"),
                          ("extra_dhcp_opts", "extra_dhcp_opts")):
            if key in body:
                changes[attr] = body[key]
        if "mac_address" in body and body["mac_address"] != port.mac_address:
            raise bad_request("Cannot update the MAC address of a port.", "HTTPBadRequest")
        if "allowed_address_pairs" in body:
            changes["allowed_address_pairs"] = self._check_pairs(body["allowed_address_pairs"])
        security = changes.get("port_security_enabled", port.port_security_enabled)
        with self.db.atomic():
            if "security_groups" in body:
                changes["security_groups"] = [self.security_groups.get(ctx, g).id for g in body["security_groups"] or []]
                self.security_groups.check_one_mode(changes["security_groups"])
            groups = changes.get("security_groups", port.security_groups)
            if not security and (groups or changes.get("allowed_address_pairs", port.allowed_address_pairs)):
                raise conflict("Port has security group associated. Cannot disable port security or IP address "
                               "until security group is removed.", "PortSecurityPortHasSecurityGroup")
            if changes.get("qos_policy_id"):
                self.qos.get(ctx, changes["qos_policy_id"])
            if "fixed_ips" in body:
                picks = resolve_fixed_ips(port.network, body["fixed_ips"])
                current = {(a.subnet_id, a.ip_address) for a in port.allocations}
                keep = {(s.id, ip) for s, ip in picks if ip is not None} & current
                models.IPAllocation.delete().where(models.IPAllocation.port == port.id).execute()
                for sub, ip in picks:
                    if (sub.id, ip) in keep:
                        models.IPAllocation.create(port=port, subnet=sub, network_id=sub.network_id, ip_address=ip)
                    else:
                        allocate(self.db, port, sub, ip)
            bump(port, **changes)
        self.sync()
        return render.port(models.Port.get_by_id(port.id))

    def delete_port(self, ctx: Ctx, port_id: str) -> None:
        port = self.get_port(ctx, port_id)
        if not ctx.owns(port.project_id) and not ctx.binds_ports:
            raise not_found("Port", "Port", port_id)
        if port.device_owner == ROUTER_IF_OWNER:
            raise conflict(f"Port {port.id} cannot be deleted directly via the port API: has device owner "
                           f"{port.device_owner}.", "L3PortInUse")
        with self.db.atomic():
            # a floating IP on a deleted port stays allocated but loses its association, as in Neutron
            models.FloatingIP.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN").where(
                models.FloatingIP.port_id == port.id).execute()
            port.delete_instance()
        self.sync()
