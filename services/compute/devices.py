"""Devices on running servers: volume attach/detach, interface attach/detach, floating IPs for addresses."""
from __future__ import annotations

import logging

from services.compute import access
from services.compute.drivers import base as drv
from services.compute.external import ExternalError
from services.compute.models import VolumeAttachment

log = logging.getLogger(__name__)


class DevicesMixin:
    # -- volumes (API-synchronous, as short as Nova's reserve + attach) --------------------------------------
    def attach_volume(self, inst, volume_id: str, token, delete_on_termination=False, tag=None):
        with self.lock_for(inst.id):
            att = VolumeAttachment.create(instance=inst, volume_id=volume_id, device=self._next_device(inst),
                                          tag=tag, delete_on_termination=delete_on_termination)
            try:
                disk = self._connect_volume(inst, att, token)
                self.driver.attach_disk(inst.domain_name, disk)
            except Exception as exc:
                if att.attachment_id:
                    self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
                att.delete_instance()
                if isinstance(exc, access.AccessDenied):
                    raise access.api_error(exc) from None
                raise
            return att

    def detach_volume(self, inst, att, token) -> None:
        with self.lock_for(inst.id):
            try:
                self.driver.detach_disk(inst.domain_name, att.device)
            except drv.NotFound:
                pass
            if att.attachment_id:
                # the attachment this server made, with the credentials that made it
                self.volume.delete_attachment(inst.project_id, att.attachment_id, None)
            att.delete_instance()

    # -- interfaces ---------------------------------------------------------------------------------------
    def attach_interface(self, inst, net_id: str | None, port_id: str | None, token) -> dict:
        with self.lock_for(inst.id):
            plan = self.resolve_networks([{"port": port_id}] if port_id else [{"uuid": net_id}], _Ctx(inst), token)
            inst.requested_networks = plan
            existing = list(inst.ports or [])
            try:
                vifs = self._allocate_ports(inst, token)
            except access.AccessDenied as exc:
                raise access.api_error(exc) from None
            record = inst.ports[-1]
            try:
                self.driver.attach_vif(inst.domain_name, vifs[-1])
            except drv.DriverError:
                inst.ports = existing + [record]
                self._release_port(record)
                inst.ports = existing
                inst.save()
                raise
            return record

    def detach_interface(self, inst, port_id: str, token) -> None:
        with self.lock_for(inst.id):
            record = next((p for p in inst.ports or [] if p["port_id"] == port_id), None)
            from appliance.errors import NotFound
            if record is None:
                raise NotFound(f"Port {port_id} is not attached")
            try:
                self.driver.detach_vif(inst.domain_name, drv.VifSpec(bridge=record["bridge"], tap=record["tap"],
                                                                     mac=record["mac"], port_id=port_id))
            except drv.NotFound:
                pass
            self._release_port(record)
            inst.ports = [p for p in inst.ports if p["port_id"] != port_id]
            inst.save()

    def _release_port(self, record) -> None:
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



class _Ctx:
    def __init__(self, inst):
        self.project_id, self.user_id = inst.project_id, inst.user_id


