"""A server's devices: the NICs (ports) and disks (volume attachments) it gets at build and while it runs."""
from __future__ import annotations

import logging

from appliance.errors import BadRequest, Conflict, NotFound
from services.compute import access, sriov, volume_iscsi, volume_nodes
from services.compute.drivers import base as drv
from services.compute.external import ExternalError
from services.compute.faults import BuildError
from services.compute.models import VolumeAttachment

log = logging.getLogger(__name__)


class DeviceManager:
    """Ports and volume attachments: checked as the server's user's, bound and released with the service's token."""

    def __init__(self, node):
        self.node = node
        self.network, self.volume = node.network, node.volume

    # -- the request's networks and security groups (API-synchronous) ---------------------------------------
    def resolve_security_groups(self, requested: list[dict], token) -> list[str]:
        """The request's groups (names or IDs, as Nova takes them) → their names; unknown is 400, ambiguous 409."""
        names = []
        for ref in (g["name"] for g in requested):
            try:
                found = self.network.list_security_groups(token, name=ref) or \
                    self.network.list_security_groups(token, id=ref)
            except ExternalError as exc:
                raise BadRequest(f"Security group {ref} could not be checked: {exc}") from None
            if not found:
                raise BadRequest(f"Security group {ref} not found.")
            if len(found) > 1:
                raise Conflict(f"Multiple security groups found matching '{ref}'. Use an ID to be more specific.")
            names.append(found[0]["name"])
        return names or ["default"]

    def resolve_networks(self, networks, ctx, token) -> list:
        """Validate the request's networks: 'auto', 'none' or [{uuid|port, fixed_ip}] -> a plan of NICs."""
        if networks == "none":
            return []
        if networks == "auto" or networks is None or networks == []:
            try:
                candidates = [n for n in self.network.list_networks(token) if not n.get("router:external")]
            except ExternalError as exc:
                raise BadRequest(f"Unable to list networks: {exc}") from None
            own = [n for n in candidates if n.get("project_id") == ctx.project_id] or \
                [n for n in candidates if n.get("shared")]
            if networks is None or networks == []:
                if len(own) > 1:
                    raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
            if not own:
                if networks == "auto":
                    raise BadRequest("Unable to automatically allocate a network for project "
                                     f"{ctx.project_id}: there is no network available.")
                return []
            if len(own) > 1:
                raise Conflict("Multiple possible networks found, use a Network ID to be more specific.")
            return [{"network_id": own[0]["id"]}]
        plan = []
        for req in networks:
            if req.get("port"):
                try:
                    port = self.network.get_port(req["port"], token)
                except ExternalError as exc:
                    if exc.status == 404:
                        raise BadRequest(f"Port id {req['port']} could not be found.") from None
                    raise BadRequest(str(exc)) from None
                if port.get("device_id"):
                    raise Conflict(f"Port {req['port']} is still in use.")
                plan.append({"port_id": port["id"], "network_id": port["network_id"]})
            else:
                try:
                    self.network.get_network(req["uuid"], token)
                except ExternalError as exc:
                    if exc.status == 404:
                        raise BadRequest(f"Network {req['uuid']} could not be found.") from None
                    raise BadRequest(str(exc)) from None
                entry = {"network_id": req["uuid"]}
                if req.get("fixed_ip"):
                    entry["fixed_ip"] = req["fixed_ip"]
                plan.append(entry)
        return plan

    # -- ports ----------------------------------------------------------------------------------------------
    def allocate_ports(self, inst, token) -> list:
        """Ports are created as the user (the network service checks the network is theirs or shared) and bound
        with compute's service credentials (binding:host_id is service-only, as in Neutron), as Nova does."""
        vifs = []
        ports = list(inst.ports or [])
        for req in inst.requested_networks or []:
            if req.get("port_id"):
                port = access.port(self.network, req["port_id"], inst, token)
                record = {"port_id": port["id"], "network_id": port["network_id"], "created": False}
            else:
                port = self._create_port(inst, req, token)
                record = {"port_id": port["id"], "network_id": port["network_id"], "created": True}
            # persist before binding so a crash from here on can release the port
            ports.append(record)
            inst.ports = ports
            inst.save()
            # the port is the user's: fetched with their token above, or created in their project
            # bound to the node that runs the server (the scheduler set inst.host), not this API's node
            bound = self.network.update_port(port["id"], {"binding:host_id": inst.host or self.node.host,
                                                          "device_id": inst.id, "device_owner": "compute:nova"}, None)
            vifs.append(self._vif(bound, record))
            inst.ports = ports
            inst.save()
        return vifs

    def rebind_ports(self, inst) -> list:
        """The server's ports, kept (same IDs, MACs and addresses), bound to the node it now runs on (inst.host):
        a move between nodes. With the service's credentials, as the first binding was."""
        vifs = []
        ports = list(inst.ports or [])
        for record in ports:
            bound = self.network.update_port(record["port_id"], {"binding:host_id": inst.host,
                                                                 "device_id": inst.id}, None)
            vifs.append(self._vif(bound, record))
        inst.ports = ports
        inst.save()
        return vifs

    def _create_port(self, inst, req, token) -> dict:
        # device_id/owner at create too, so a crash before the port is recorded can still find it
        body = {"network_id": req["network_id"], "admin_state_up": True, "device_id": inst.id,
                "device_owner": "compute:nova"}
        if req.get("fixed_ip"):
            body["fixed_ips"] = [{"ip_address": req["fixed_ip"]}]
        sgs = [s for s in inst.security_groups or [] if s != "default"]
        if sgs:
            body["security_groups"] = self._security_group_ids(inst, sgs, token)
        port = access.as_user(lambda t: self.network.create_port(body, t), token)
        if port is None:
            # no live user token: the service creates the port in the server's project, on a network it may use
            access.network(self.network, req["network_id"], inst, None)
            port = self.network.create_port({**body, "project_id": inst.project_id}, None)
        return port

    def _security_group_ids(self, inst, names, token) -> list:
        """The groups' IDs by name (the API resolved them to unique names of the project at create)."""
        ids = []
        for name in names:
            groups = access.security_groups(self.network, name, inst, token)
            if len(groups) != 1:
                raise BuildError(f"Security group {name} not found, or not unique any more.")
            ids.append(groups[0]["id"])
        return ids

    def _vif(self, port: dict, record: dict) -> drv.VifSpec:
        details = port.get("binding:vif_details") or {}
        if sriov.wants_vf(port):
            vif = sriov.vif_spec(port, port["mac_address"])
            bridge = ""
        else:
            bridge = details.get("bridge_name")
            if not bridge:
                raise BuildError(f"Port {port['id']} was bound without a bridge (binding:vif_details.bridge_name).")
            vif = None
        record.update({"mac": port["mac_address"], "bridge": bridge, "tap": "tap" + port["id"][:11],
                       "vif_type": "hw_veb" if vif else "bridge",
                       "ips": [ip["ip_address"] for ip in port.get("fixed_ips", [])]})
        if vif is not None:
            record.update({"pci_address": vif.pci_address, "vlan": vif.vlan, "source_dev": vif.source_dev})
        try:
            # the name only, of the network of a port already checked as the server's
            record["network_name"] = self.network.get_network(port["network_id"]).get("name")
        except ExternalError:
            record["network_name"] = port["network_id"]
        return vif or drv.VifSpec(bridge=bridge, tap=record["tap"], mac=record["mac"], port_id=port["id"])

    def release_port(self, record) -> None:
        """With the service's credentials: unbinding is service-only, and only ports this server recorded."""
        try:
            if record.get("created"):
                self.network.delete_port(record["port_id"], None)
            else:
                self.network.update_port(record["port_id"], {"binding:host_id": "", "device_id": "",
                                                             "device_owner": ""}, None)
        except ExternalError as exc:
            if exc.status != 404:  # already gone is what we wanted
                log.warning("release port %s: %s", record["port_id"], exc)

    def release_unrecorded_ports(self, inst) -> None:
        """Ports we created for this server but never recorded (a crash between create and save)."""
        try:
            # the server's own project only: a user may set any device_id on a port of theirs
            leaked = self.network.list_ports(None, device_id=inst.id, project_id=inst.project_id)
        except ExternalError as exc:
            log.warning("list ports of %s: %s", inst.id, exc)
            return
        for port in leaked:
            if port.get("device_owner") == "compute:nova":
                try:
                    self.network.delete_port(port["id"], None)
                except ExternalError as exc:
                    log.warning("release leaked port %s: %s", port["id"], exc)

    def floating_ips(self, instances) -> dict:
        """{(port_id, fixed_ip): [floating ip, ...]} for the ports of these servers (one network call each)."""
        out: dict = {}
        for inst in instances:
            for p in inst.ports or []:
                try:
                    fips = self.network.list_floatingips(None, port_id=p["port_id"])
                except ExternalError:
                    continue
                for fip in fips:
                    out.setdefault((p["port_id"], fip.get("fixed_ip_address")), []).append(
                        fip["floating_ip_address"])
        return out

    # -- volume attachments -----------------------------------------------------------------------------------
    def next_device(self, inst, disks=()) -> str:
        used = {a.device for a in inst.attachments if a.device} | {d.target for d in disks}
        for letter in "bcdefghijklmnopqrstuvwxyz":
            if f"vd{letter}" not in used:
                return f"vd{letter}"
        raise BuildError("No free disk device name left.")

    def connect_volume(self, inst, att, token) -> drv.DiskSpec:
        """Attach with the service's credentials (connection info names host paths; the user's token may be gone
        by the time a build reaches its volumes) once the volume is checked as the server's project's. A volume on
        another node is asked for over iSCSI (this node's initiator in the connector): a network disk when that
        node exports it; else the attachment is let go and AcrossNodes says why."""
        access.volume(self.volume, att.volume_id, inst, token)
        server_host = inst.host or self.node.host
        # where it lives decides what to ask storage for (the row's record, else storage's word to the service)
        where = volume_nodes.recorded(att) or volume_nodes.lookup(self.node, inst.project_id, att.volume_id)
        created = self._create_attachment(inst, att, server_host, where)
        info = created.get("connection_info") or {}
        kind = info.get("driver_volume_type", "file")
        if kind == "iscsi":
            disk = self._iscsi_disk(inst, att, info, where, server_host)
        else:
            disk = self._local_disk(inst, att, info, kind, server_host, asked_iscsi=where != server_host)
        self.volume.complete_attachment(inst.project_id, att.attachment_id, None)
        return disk

    def _create_attachment(self, inst, att, server_host: str, where: str) -> dict:
        remote = where != server_host
        connector = {"host": server_host, "platform": "x86_64", "os_type": "linux", "multipath": False,
                     "initiator": volume_iscsi.initiator(server_host) if remote else None,
                     "mountpoint": f"/dev/{att.device}"}
        try:
            created = self.volume.create_attachment(inst.project_id, att.volume_id, inst.id, connector, None)
        except ExternalError as exc:
            if remote and exc.status == 409:   # the volume's node cannot export it: storage says why
                self._refuse(inst, att, where, server_host, str(exc))
            raise
        att.attachment_id = created["id"]
        att.save()  # recorded before use, so a crash still knows what to release
        return created

    def _refuse(self, inst, att, where: str, server_host: str, reason: str | None = None):
        """Let the attachment go (nothing stays reserved in storage) and raise AcrossNodes naming both nodes."""
        if att.attachment_id:
            self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
        att.attachment_id, att.connection_info = None, volume_nodes.record(None, where, False)
        att.save()
        raise volume_nodes.AcrossNodes(volume_nodes.message(att.volume_id, where, inst.id, server_host, reason))

    def _iscsi_disk(self, inst, att, info: dict, where: str, server_host: str) -> drv.DiskSpec:
        try:
            disk = volume_iscsi.disk_spec(att.volume_id, info, att.device, server_host)
        except volume_iscsi.BadConnection:
            self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
            att.attachment_id = None
            att.save()
            raise
        att.connection_info = volume_nodes.record(volume_iscsi.stored(info), where, True)
        att.save()
        return disk

    def _local_disk(self, inst, att, info: dict, kind: str, server_host: str, asked_iscsi: bool) -> drv.DiskSpec:
        # the last guard: a path means something on its own node only (the API and the scheduler refuse earlier)
        where = volume_nodes.of_connection(self.node, info)
        if where != server_host:
            self._refuse(inst, att, where, server_host,
                         "storage answered with a file on its disk, not an iSCSI target" if asked_iscsi else None)
        att.connection_info = volume_nodes.record(info, where, volume_nodes.recorded_remote(att))
        att.save()
        data = info.get("data") or {}
        if kind not in ("file", "block", "local"):
            raise BuildError(f"Volume {att.volume_id} uses {kind}, which this host cannot attach.")
        return drv.DiskSpec(path=data.get("path") or data.get("device_path"), target=att.device,
                            format=data.get("format", "raw"), source_type="block" if kind == "block" else "file",
                            serial=att.volume_id)

    def drop_connections(self, inst) -> None:
        """Let go of the attachments the server's old node made (it moves: the new node attaches them again);
        the volumes stay the server's."""
        for att in list(inst.attachments):
            if att.attachment_id:
                try:
                    self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
                except ExternalError as exc:
                    if exc.status != 404:
                        raise
                # the volume's node stays recorded: the scheduler placed the move with it, the new node asks by it
                att.attachment_id, att.connection_info = None, volume_nodes.kept(att.connection_info)
                att.save()

    def release_volumes(self, inst, keep_volumes: bool) -> None:
        """Every attachment this server made; its delete_on_termination volumes too unless keep_volumes."""
        for att in list(inst.attachments):
            if att.attachment_id:
                try:
                    self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
                except ExternalError as exc:
                    log.warning("release attachment %s: %s", att.attachment_id, exc)
                att.attachment_id = None
                att.save()
            if not keep_volumes:
                if att.delete_on_termination:
                    try:
                        self.volume.delete_volume(inst.project_id, att.volume_id, None)
                    except ExternalError as exc:
                        log.warning("delete volume %s: %s", att.volume_id, exc)
                att.delete_instance()

    # -- hot-plug on running servers (API-synchronous, as short as Nova's reserve + attach) --------------------
    def attach_volume(self, inst, volume_id: str, token, delete_on_termination=False, tag=None):
        with self.node.tasks.lock_for(inst.id):
            att = VolumeAttachment.create(instance=inst, volume_id=volume_id, device=self.next_device(inst),
                                          tag=tag, delete_on_termination=delete_on_termination)
            try:
                disk = self.connect_volume(inst, att, token)
                driver = self.node.driver_for(inst)
                driver.attach_disk(inst.domain_name, disk)
            except Exception as exc:
                if att.attachment_id:
                    self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
                att.delete_instance()
                if isinstance(exc, access.AccessDenied):
                    raise access.api_error(exc) from None
                raise
            return att

    def detach_volume(self, inst, att, token) -> None:
        with self.node.tasks.lock_for(inst.id):
            try:
                driver = self.node.driver_for(inst)
                driver.detach_disk(inst.domain_name, att.device)
            except drv.NotFound:
                pass
            if att.attachment_id:
                # the attachment this server made, with the credentials that made it
                self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
            att.delete_instance()

    def attach_interface(self, inst, net_id: str | None, port_id: str | None, token) -> dict:
        with self.node.tasks.lock_for(inst.id):
            plan = self.resolve_networks([{"port": port_id}] if port_id else [{"uuid": net_id}], _Ctx(inst), token)
            inst.requested_networks = plan
            existing = list(inst.ports or [])
            try:
                vifs = self.allocate_ports(inst, token)
            except access.AccessDenied as exc:
                raise access.api_error(exc) from None
            except BuildError as exc:
                # bound, but not as a NIC this guest can take (a VF asked for, none given): let the port go again
                for record in (inst.ports or [])[len(existing):]:
                    self.release_port(record)
                inst.ports = existing
                inst.save()
                raise BadRequest(str(exc)) from None
            record = inst.ports[-1]
            try:
                driver = self.node.driver_for(inst)
                driver.attach_vif(inst.domain_name, vifs[-1])
            except drv.DriverError:
                inst.ports = existing + [record]
                self.release_port(record)
                inst.ports = existing
                inst.save()
                raise
            return record

    def detach_interface(self, inst, port_id: str, token) -> None:
        with self.node.tasks.lock_for(inst.id):
            record = next((p for p in inst.ports or [] if p["port_id"] == port_id), None)
            if record is None:
                raise NotFound(f"Port {port_id} is not attached")
            driver = self.node.driver_for(inst)
            try:
                driver.detach_vif(inst.domain_name, drv.VifSpec(bridge=record.get("bridge", ""), tap=record["tap"],
                                                                     mac=record["mac"], port_id=port_id))
            except drv.NotFound:
                pass
            self.release_port(record)
            inst.ports = [p for p in inst.ports if p["port_id"] != port_id]
            inst.save()


class _Ctx:
    """The server's own project and user, where resolve_networks wants a request context."""

    def __init__(self, inst):
        self.project_id, self.user_id = inst.project_id, inst.user_id
