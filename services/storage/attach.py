"""Volume attachments (Cinder's attachments API and the legacy os-attach family): who uses a volume, and how."""
from __future__ import annotations

from appliance import errors, pki
from appliance.db import utcnow
from services.storage.drivers.base import DriverError
from services.storage.models import Attachment, Volume, database
from services.storage.access import is_admin


class AttachmentManager:
    def __init__(self, volumes):
        self.volumes = volumes
        self.driver = volumes.driver
        self.settings = volumes.settings

    def get(self, attachment_id: str, ctx, service: bool = True) -> tuple[Attachment, Volume]:
        """The attachment and its volume, if the caller may see the volume (`service`: as compute does)."""
        att = Attachment.get_or_none(Attachment.id == attachment_id)
        if att is None:
            raise errors.NotFound(f"Attachment {attachment_id} could not be found.")
        return att, self.volumes.get(att.volume_id, ctx, service)

    def list(self, ctx, args):
        """Compute (service role) and admins list across projects when they name a volume or an instance."""
        query = Attachment.select().join(Volume)
        # compute lists a server's or a volume's attachments with its service token, across projects
        privileged = is_admin(ctx) or "service" in {r.lower() for r in ctx.roles}
        if not (privileged and (args.get("all_tenants") or args.get("volume_id") or args.get("instance_id"))):
            query = query.where(Volume.project_id == ctx.project_id)
        if args.get("volume_id"):
            query = query.where(Attachment.volume == args["volume_id"])
        if args.get("instance_id"):
            query = query.where(Attachment.instance_uuid == args["instance_id"])
        return list(query.order_by(Attachment.created_at))

    def _validate_connector(self, connector):
        if connector is None:
            return None
        if not isinstance(connector, dict) or not isinstance(connector.get("host", ""), str):
            raise errors.BadRequest("Invalid input for field 'attachment/connector': an object with a 'host'.")
        return connector

    def _refresh_status(self, volume_id: str) -> None:
        """A volume's status follows its attachments: in-use if any is attached, else the furthest step."""
        states = [a.status for a in Attachment.select().where(Attachment.volume == volume_id)]
        if "attached" in states:
            status = "in-use"
        elif "attaching" in states:
            status = "attaching"
        elif "reserved" in states:
            status = "reserved"
        else:
            status = "available"
        Volume.update(status=status, updated_at=utcnow()).where(Volume.id == volume_id).execute()

    def _reserve(self, vol: Volume, instance_uuid, ctx) -> None:
        others = Attachment.select().where(Attachment.volume == vol.id).count()
        ok = vol.status == "available" or (others and self.volumes.multiattach(vol) and
                                           vol.status in ("in-use", "reserved", "attaching"))
        if not ok:
            raise errors.BadRequest(f"Invalid volume: volume {vol.id} status must be available or downloading to "
                                    f"reserve, but the current status is {vol.status}.")

    def parse(self, body: dict) -> dict:
        """A create's fields, checked before the volume it names is looked up."""
        volume_id = body.get("volume_uuid") or body.get("volume_id")
        if not volume_id:
            raise errors.BadRequest("Invalid input for field 'attachment/volume_uuid': it is required.")
        if not isinstance(volume_id, str):
            raise errors.BadRequest("Invalid input for field 'attachment/volume_uuid': must be a string.")
        instance = body.get("instance_uuid")
        if instance is not None and not isinstance(instance, str):
            raise errors.BadRequest("Invalid input for field 'attachment/instance_uuid': must be a string.")
        connector = self._validate_connector(body.get("connector"))
        mode = body.get("mode", "rw")
        if mode not in ("rw", "ro"):
            raise errors.BadRequest("Invalid input for field 'attachment/mode': rw or ro.")
        return {"volume_id": volume_id, "instance": instance, "connector": connector, "mode": mode}

    def create(self, vol: Volume, fields: dict, ctx) -> Attachment:
        instance, connector, mode = fields["instance"], fields["connector"], fields["mode"]
        with self.volumes.lock, database.atomic():
            vol = Volume.get_by_id(vol.id)
            self._reserve(vol, instance, ctx)
            att = Attachment.create(volume=vol.id, instance_uuid=instance, attach_mode=mode,
                                    connector=connector, status="attaching" if connector else "reserved")
            self._refresh_status(vol.id)
        return att

    def update(self, att: Attachment, body: dict) -> Attachment:
        connector = self._validate_connector(body.get("connector"))
        if connector is None:
            raise errors.BadRequest("Invalid input for field 'attachment/connector': it is required.")
        with self.volumes.lock, database.atomic():
            att = Attachment.get_by_id(att.id)
            if att.status == "attached":
                raise errors.BadRequest(f"Invalid attachment: attachment {att.id} is already attached.")
            att.connector = connector
            att.status = "attaching"
            att.save()
            self._refresh_status(att.volume_id)
        return att

    def complete(self, att: Attachment) -> None:
        with self.volumes.lock, database.atomic():
            att = Attachment.get_by_id(att.id)
            if att.connector is None:
                raise errors.BadRequest(f"Invalid attachment: attachment {att.id} has no connector yet.")
            att.status = "attached"
            att.attached_at = utcnow()
            att.save()
            self._refresh_status(att.volume_id)

    def delete(self, att: Attachment) -> None:
        with self.volumes.lock, database.atomic():
            volume_id = att.volume_id
            att.delete_instance()
            self._refresh_status(volume_id)

    def connection_info(self, att: Attachment) -> dict:
        if att.connector is None:
            return {}
        try:
            info = self.driver.connection_info(att.volume_id)
        except DriverError as exc:
            raise errors.ApiError(f"The volume backend cannot export volume {att.volume_id}: {exc}",
                                  status=500) from None
        # the node whose disk holds the volume: its path means nothing on another node (no iSCSI target yet)
        info = {**info, "data": {**info["data"], "access_mode": att.attach_mode, "node": pki.node_name(self.settings)}}
        info["attachment_id"] = att.id
        info["serial"] = att.volume_id
        return info

    # --- legacy actions -----------------------------------------------------------------------------------
    def legacy(self, vol: Volume, action: str, body, ctx):
        body = body if isinstance(body, dict) else {}
        with self.volumes.lock, database.atomic():
            vol = Volume.get_by_id(vol.id)
            if action == "os-reserve":
                self._reserve(vol, None, ctx)
                Attachment.create(volume=vol.id, status="reserved")
                self._refresh_status(vol.id)
            elif action == "os-unreserve":
                Attachment.delete().where((Attachment.volume == vol.id) & (Attachment.status == "reserved") &
                                          (Attachment.instance_uuid.is_null())).execute()
                self._refresh_status(vol.id)
            elif action == "os-attach":
                instance = body.get("instance_uuid")
                if not isinstance(instance, str) or not instance:
                    raise errors.BadRequest("Invalid input for field 'os-attach/instance_uuid': it is required.")
                pending = Attachment.select().where((Attachment.volume == vol.id) &
                                                    (Attachment.status.in_(["reserved", "attaching"]))).first()
                if pending is None:
                    self._reserve(vol, instance, ctx)
                    pending = Attachment.create(volume=vol.id)
                pending.instance_uuid = instance
                pending.mountpoint = body.get("mountpoint")
                pending.attach_mode = body.get("mode", "rw")
                pending.connector = pending.connector or {"host": body.get("host_name") or ""}
                pending.status = "attached"
                pending.attached_at = utcnow()
                pending.save()
                self._refresh_status(vol.id)
            elif action == "os-detach":
                query = Attachment.delete().where(Attachment.volume == vol.id)
                if body.get("attachment_id"):
                    query = query.where(Attachment.id == body["attachment_id"])
                if not query.execute():
                    raise errors.BadRequest(f"Invalid volume: volume {vol.id} is not attached.")
                self._refresh_status(vol.id)
            elif action == "os-begin_detaching":
                if vol.status != "in-use":
                    raise errors.BadRequest(f"Invalid volume: volume {vol.id} status must be in-use to detach, "
                                            f"currently {vol.status}.")
                Volume.update(status="detaching").where(Volume.id == vol.id).execute()
            elif action == "os-roll_detaching":
                if vol.status == "detaching":
                    self._refresh_status(vol.id)
            elif action == "os-initialize_connection":
                connector = self._validate_connector(body.get("connector"))
                if connector is None:
                    raise errors.BadRequest("Invalid input for field 'os-initialize_connection/connector': "
                                            "it is required.")
                try:
                    info = self.driver.connection_info(vol.id)
                except DriverError as exc:
                    raise errors.ApiError(f"The volume backend cannot export volume {vol.id}: {exc}",
                                          status=500) from None
                return {"connection_info": {**info, "data": {**info["data"], "node": pki.node_name(self.settings)}}}
            elif action == "os-terminate_connection":
                return None
        return None
