"""Volume attachments (Cinder's attachments API and the legacy os-attach family): who uses a volume, and how."""
from __future__ import annotations

from appliance import errors, pki
from appliance.db import utcnow
from services.storage.drivers.base import DriverError
from services.storage.exports import initiator_of
from services.storage.models import Attachment, Volume, database
from services.storage.access import is_admin


class AttachmentManager:
    """A connector with an initiator name asks for iSCSI: the volume is exported for that initiator alone
    (services/storage/exports.py); without one, compute on this node opens the volume's file."""

    def __init__(self, volumes, exports):
        self.volumes = volumes
        self.exports = exports
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
        if others:
            self._one_writer(vol.id, None)

    def _one_writer(self, volume_id: str, exporting: str | None) -> None:
        """A qcow2 volume has one writer: two QEMUs (one over iSCSI) would each rewrite its metadata. A multiattach
        qcow2 volume is therefore exported only alone, and gets no other attachment while exported.
        `exporting`: the attachment about to be exported (None: a new attachment is being made)."""
        rows = list(Attachment.select().where(Attachment.volume == volume_id))
        if exporting is not None:
            clash = any(a.id != exporting for a in rows) and self._format(volume_id) == "qcow2"
        else:
            clash = any(a.export and a.export.get("format") == "qcow2" for a in rows)
        if clash:
            raise errors.BadRequest(f"Invalid volume: volume {volume_id} is a qcow2 file exported over iSCSI, or "
                                    "about to be: it can be used by one server at a time (detach the other first).")

    def _format(self, volume_id: str) -> str | None:
        try:
            return self.driver.connection_info(volume_id)["data"].get("format")
        except DriverError:
            return None

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
        initiator = initiator_of(connector)
        mode = body.get("mode", "rw")
        if mode not in ("rw", "ro"):
            raise errors.BadRequest("Invalid input for field 'attachment/mode': rw or ro.")
        return {"volume_id": volume_id, "instance": instance, "connector": connector, "mode": mode,
                "initiator": initiator}

    def create(self, vol: Volume, fields: dict, ctx) -> Attachment:
        instance, connector, mode = fields["instance"], fields["connector"], fields["mode"]
        att = Attachment(volume=vol.id, instance_uuid=instance, attach_mode=mode, connector=connector,
                         status="attaching" if connector else "reserved")
        try:
            with self.volumes.lock, database.atomic():
                vol = Volume.get_by_id(vol.id)
                self._reserve(vol, instance, ctx)
                if fields.get("initiator"):
                    self._one_writer(vol.id, att.id)
                    att.export = self.exports.export(att.id, vol.id, fields["initiator"])
                att.save(force_insert=True)
                self._refresh_status(vol.id)
        except BaseException:
            # nothing is left of a create that failed: no row, and no target serving the volume
            self.exports.unexport_quietly([att])
            raise
        return att

    def update(self, att: Attachment, body: dict) -> Attachment:
        connector = self._validate_connector(body.get("connector"))
        if connector is None:
            raise errors.BadRequest("Invalid input for field 'attachment/connector': it is required.")
        initiator = initiator_of(connector)
        old = new = None
        with self.volumes.lock:
            try:
                with database.atomic():
                    att = Attachment.get_by_id(att.id)
                    if att.status == "attached":
                        raise errors.BadRequest(f"Invalid attachment: attachment {att.id} is already attached.")
                    old = att.export
                    if old and initiator == old.get("initiator"):
                        # a retried update: the same export, there again if tgtd lost it
                        self.exports.ensure(att.volume_id, old)
                    elif initiator != (old or {}).get("initiator"):
                        # another initiator (or none): the old export goes, never widened to a second initiator
                        if initiator:
                            self._one_writer(att.volume_id, att.id)
                        self.exports.unexport(old, att.volume_id)
                        att.export = None
                        if initiator:
                            new = att.export = self.exports.export(att.id, att.volume_id, initiator)
                    att.connector = connector
                    att.status = "attaching"
                    att.save()
                    self._refresh_status(att.volume_id)
            except BaseException:
                if new is not None:
                    self.exports.unexport_quietly([att])
                if old and att.export is not old:
                    self.exports.again(att.id, att.volume_id, old)   # the row keeps its old export: so does tgtd
                raise
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
            current = Attachment.get_or_none(Attachment.id == att.id)   # a concurrent delete may have won
            if current is not None:
                self._drop([current], volume_id)
            self._refresh_status(volume_id)

    def _drop(self, rows: list[Attachment], volume_id: str) -> None:
        """Delete attachment rows, their targets first (a 409 leaves every row whose target stays)."""
        for row in rows:
            self.exports.unexport(row.export, volume_id)
            row.delete_instance()

    def connection_info(self, att: Attachment) -> dict:
        if att.connector is None:
            return {}
        if att.export:
            return self.exports.connection_info(att)
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
                self._drop(list(Attachment.select().where(
                    (Attachment.volume == vol.id) & (Attachment.status == "reserved") &
                    (Attachment.instance_uuid.is_null()))), vol.id)
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
                query = Attachment.select().where(Attachment.volume == vol.id)
                if body.get("attachment_id"):
                    query = query.where(Attachment.id == body["attachment_id"])
                rows = list(query)
                if not rows:
                    raise errors.BadRequest(f"Invalid volume: volume {vol.id} is not attached.")
                self._drop(rows, vol.id)
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
