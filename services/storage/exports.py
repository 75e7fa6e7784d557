"""iSCSI exports of attachments: a volume on this box's disk, served by its target to a server on another node."""
from __future__ import annotations

import logging
import re
import secrets

from appliance import errors, pki
from services.storage.drivers.base import DriverError
from services.storage.models import Attachment

log = logging.getLogger(__name__)

TARGET_PREFIX = "iqn.2026-12.dev.egret:attachment-"
LUN = 1
MAX_IQN = 223   # RFC 3720's limit on an iSCSI name, in bytes
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
# iqn.YYYY-MM.<reversed domain>[:<anything the naming authority chose>]. The part after the colon is limited to
# what initiators generate (open-iscsi's "01:5e1fa3", Windows' "host.domain"): tgtadm passes the name inside a
# comma-separated parameter string, where a comma or '=' would add a parameter (see drivers/tgt.py)
IQN = re.compile(rf"iqn\.[0-9]{{4}}-(?:0[1-9]|1[0-2])\.{_LABEL}(?:\.{_LABEL})*(?::[A-Za-z0-9.:_-]*)?",
                 re.IGNORECASE)
FIELD = "attachment/connector/initiator"


def initiator_of(connector) -> str | None:
    """The connector's initiator name when it asks for iSCSI (a non-empty string), after validation (400)."""
    if not isinstance(connector, dict):
        return None
    value = connector.get("initiator")
    if value is None or value == "":
        return None   # compute on the volume's own node sends none: the file is used directly
    if not isinstance(value, str):
        raise errors.BadRequest(f"Invalid input for field '{FIELD}': must be a string.")
    if len(value.encode()) > MAX_IQN or not IQN.fullmatch(value):
        shown = value[:60].encode("ascii", "backslashreplace").decode()
        raise errors.BadRequest(f"Invalid input for field '{FIELD}': {shown!r} is not an iSCSI qualified name "
                                f"(iqn.YYYY-MM.reversed.domain[:name], at most {MAX_IQN} characters of letters, "
                                "digits and . : - _).")
    return value


class ExportManager:
    """Exports live in tgtd (the world) and in Attachment.export (the record that lets a restart export again)."""

    def __init__(self, settings, target, driver):
        self.settings = settings
        self.target = target
        self.driver = driver

    def node(self) -> str:
        return pki.node_name(self.settings)

    def _refused(self, volume_id: str, reason) -> errors.Conflict:
        return errors.Conflict(f"Storage node {self.node()} cannot export volume {volume_id} over iSCSI: "
                               f"{str(reason).rstrip('.')}.")

    def storage_protocol(self) -> str:
        """What the pool says: "iSCSI" when this node's target can serve other nodes, else the backend's kind."""
        return "iSCSI" if self.target.available() is None else self.driver.name

    # --- one attachment -----------------------------------------------------------------------------------------
    def export(self, attachment_id: str, volume_id: str, initiator: str) -> dict:
        """Serve the volume to `initiator` with fresh CHAP credentials; the record for Attachment.export. 409 when
        this node cannot (no tgtd, it does not start, the backend cannot export)."""
        try:
            fmt = self.driver.connection_info(volume_id)["data"]["format"]
            self.ensure_running()
            path = self.driver.export_path(volume_id)
            record = {"target_iqn": TARGET_PREFIX + attachment_id, "target_lun": LUN, "initiator": initiator,
                      "auth_username": f"egret-{attachment_id}",
                      # Cinder's LVM driver makes 16 characters (chap_password_len); a little more here
                      "auth_password": secrets.token_urlsafe(18), "format": fmt}
            self.target.export(record["target_iqn"], path, initiator, record["auth_username"],
                               record["auth_password"])
        except DriverError as exc:
            raise self._refused(volume_id, exc) from None
        log.info("volume %s exported as %s to %s", volume_id, record["target_iqn"], initiator)
        return record

    def unexport(self, record: dict | None, volume_id: str = "") -> None:
        """Take an attachment's target away (409 when tgtd refuses: the attachment stays, to be tried again)."""
        if not record:
            return
        try:
            self.target.unexport(record["target_iqn"])
        except DriverError as exc:
            raise errors.Conflict(f"Storage node {self.node()} could not remove the iSCSI target of volume "
                                  f"{volume_id}: {exc}") from None
        log.info("volume %s: target %s removed", volume_id, record["target_iqn"])

    def unexport_quietly(self, rows) -> None:
        """For rows that go whatever happens (a force delete): a failure is logged; the restart sweep ends it."""
        for att in rows:
            if att.export:
                try:
                    self.target.unexport(att.export["target_iqn"])
                except DriverError as exc:
                    log.error("attachment %s: its target stays until the next start: %s", att.id, exc)

    def ensure_running(self) -> None:
        # a tgtd that had to be started again (it died) lost every target: the other attachments get theirs back
        if self.target.ensure_running():
            self._restore(self.target.targets())

    def connection_info(self, att: Attachment) -> dict:
        """Cinder's iSCSI connection_info (its LVM driver's keys), with this node's name as the file kind has."""
        exp = att.export
        return {"driver_volume_type": "iscsi",
                "data": {"target_portal": self.target.portal, "target_iqn": exp["target_iqn"],
                         "target_lun": exp["target_lun"], "target_discovered": False, "auth_method": "CHAP",
                         "auth_username": exp["auth_username"], "auth_password": exp["auth_password"],
                         "format": exp["format"], "access_mode": att.attach_mode, "node": self.node(),
                         "volume_id": att.volume_id},
                "attachment_id": att.id, "serial": att.volume_id}

    # --- restart ------------------------------------------------------------------------------------------------
    def _export_again(self, volume_id: str, record: dict) -> None:
        # with its recorded credentials: the initiator's QEMU logs in again with what it has
        self.target.export(record["target_iqn"], self.driver.export_path(volume_id), record["initiator"],
                           record["auth_username"], record["auth_password"])

    def ensure(self, volume_id: str, record: dict) -> None:
        """A recorded export, made again if tgtd lost it; 409 when it cannot be."""
        try:
            self.ensure_running()
            if record["target_iqn"] not in self.target.targets():
                self._export_again(volume_id, record)
        except DriverError as exc:
            raise self._refused(volume_id, exc) from None

    def again(self, attachment_id: str, volume_id: str, record: dict) -> bool:
        """Export a recorded export again (False, logged, when it cannot be)."""
        try:
            self._export_again(volume_id, record)
            return True
        except DriverError as exc:
            log.error("attachment %s: volume %s could not be exported again: %s", attachment_id, volume_id, exc)
            return False

    def _restore(self, present: dict) -> int:
        rows = Attachment.select().where(Attachment.export.is_null(False))
        return sum(self.again(a.id, a.volume_id, a.export) for a in rows if a.export["target_iqn"] not in present)

    def reconcile(self) -> dict:
        """Every recorded export is in tgtd again (it may have died with the service), and egret targets without
        a record go; tgtd is started only when some record needs it."""
        report = {"exports_restored": 0, "exports_removed": 0, "exports_failed": 0}
        wanted = {a.export["target_iqn"] for a in Attachment.select().where(Attachment.export.is_null(False))}
        try:
            if wanted:
                self.target.ensure_running()
            present = self.target.targets()
            for iqn in present:
                if iqn.startswith(TARGET_PREFIX) and iqn not in wanted:
                    self.target.unexport(iqn)
                    report["exports_removed"] += 1
            if wanted:
                report["exports_restored"] = self._restore(present)
                report["exports_failed"] = len(wanted - set(self.target.targets()))
        except DriverError as exc:
            log.error("iSCSI exports not reconciled: %s", exc)
            report["exports_failed"] = len(wanted)
        return report
