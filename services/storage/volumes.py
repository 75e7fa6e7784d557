"""Volume manager (Cinder v3 semantics): persisted status machine, snapshots, types, quotas, attachments."""
from __future__ import annotations

import importlib.metadata
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor

from appliance import errors
from appliance.db import utcnow
from services.storage import store
from services.storage.access import denied, is_admin
from services.storage.drivers.base import GiB, DriverError
from services.storage.models import Attachment, Quota, Snapshot, Volume, database
from services.storage.types import VolumeTypeManager

log = logging.getLogger(__name__)

DEFAULT_QUOTAS = {"volumes": 10, "gigabytes": 1000, "snapshots": 10, "per_volume_gigabytes": -1,
                  "backups": 10, "backup_gigabytes": 1000, "groups": 10}
try:
    DRIVER_VERSION = importlib.metadata.version("egret")
except importlib.metadata.PackageNotFoundError:   # a source tree that was never installed
    DRIVER_VERSION = "0"
DELETABLE = {"available", "error", "error_restoring", "error_extending", "error_managing"}




def _truthy_spec(value) -> bool:
    return isinstance(value, str) and value.replace(" ", "").lower() in ("<is>true", "true")


class VolumeManager:
    def __init__(self, settings, driver, images, types: VolumeTypeManager, exports=None):
        """`exports`: the ExportManager whose targets a force delete takes away with the attachments."""
        self.settings = settings
        self.driver = driver
        self.exports = exports
        self.images = images
        self.types = types
        self.synchronous = bool(settings.section("storage").get("synchronous", False))
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="volume-task")
        self.lock = threading.Lock()

    # --- background work: the status is persisted before the driver runs ------------------------------
    def _run(self, fn, *args):
        if self.synchronous:
            fn(*args)
            return
        self.pool.submit(self._in_thread, fn, *args)

    def _in_thread(self, fn, *args):
        database.connect(reuse_if_open=True)
        try:
            fn(*args)
        except Exception:
            log.exception("volume task %s failed", fn.__name__)
        finally:
            if not database.is_closed():
                database.close()

    # --- lookups: what the caller may see (404 otherwise); what it may do is its route's rule -----------------
    def get(self, volume_id: str, ctx, service: bool = False) -> Volume:
        """`service`: compute's service token sees every project's volumes (to attach them)."""
        vol = Volume.get_or_none(Volume.id == volume_id)
        if vol is None or not (is_admin(ctx) or vol.project_id == ctx.project_id or
                               (service and "service" in ctx.roles)):
            raise errors.NotFound(f"Volume {volume_id} could not be found.")
        return vol

    def get_snapshot(self, snapshot_id: str, ctx) -> Snapshot:
        snap = Snapshot.get_or_none(Snapshot.id == snapshot_id)
        if snap is None or not (is_admin(ctx) or snap.project_id == ctx.project_id):
            raise errors.NotFound(f"Snapshot {snapshot_id} could not be found.")
        return snap

    @staticmethod
    def wants_all_tenants(args) -> bool:
        return args.get("all_tenants") not in (None, "0", "false", "False")

    def list(self, ctx, args, all_tenants: bool = False, model=Volume):
        """`all_tenants`: the route allowed an all_tenants listing (volume:all_tenants)."""
        query = model.select()
        if all_tenants:
            if args.get("project_id"):
                query = query.where(model.project_id == args["project_id"])
        else:
            query = query.where(model.project_id == ctx.project_id)
        for field in ("name", "status"):
            if args.get(field) is not None:
                query = query.where(getattr(model, field) == args[field])
        if model is Volume and args.get("bootable") is not None:
            query = query.where(Volume.bootable == (args["bootable"].lower() in ("true", "1")))
        if model is Snapshot and args.get("volume_id"):
            query = query.where(Snapshot.volume == args["volume_id"])
        sort = args.get("sort") or f"{args.get('sort_key', 'created_at')}:{args.get('sort_dir', 'desc')}"
        order = []
        for part in sort.split(","):
            key, _, direction = part.partition(":")
            if key not in ("created_at", "updated_at", "name", "size", "status", "id"):
                raise errors.BadRequest(f"Invalid input for field 'sort_key': {key!r} is not a sort key.")
            if direction not in ("", "asc", "desc"):
                raise errors.BadRequest(f"Invalid input for field 'sort_dir': {direction!r}.")
            col = getattr(model, key)
            order.append(col.asc() if direction == "asc" else col.desc())
        rows = list(query.order_by(*order, model.id.desc()))
        if args.get("marker"):
            ids = [r.id for r in rows]
            if args["marker"] not in ids:
                raise errors.NotFound(f"Marker {args['marker']} could not be found.")
            rows = rows[ids.index(args["marker"]) + 1:]
        limit = args.get("limit")
        if limit is not None:
            if not str(limit).isdigit():
                raise errors.BadRequest("Invalid input for field 'limit': must be a non-negative integer.")
            return rows[:int(limit)], len(rows) > int(limit)
        return rows, False

    # --- the backend pool (Cinder's scheduler-stats) ----------------------------------------------------------
    def pool_capabilities(self, name: str, storage_protocol: str) -> dict:
        """Cinder's pool capabilities (its LVM driver's keys) of `name`, "<host>@<backend>#<pool>"."""
        capacity = self.driver.capacity()
        sizes = [v.size for v in Volume.select(Volume.size)]
        return {"pool_name": name.rpartition("#")[2], "volume_backend_name": name.partition("@")[2].partition("#")[0],
                "vendor_name": "Egret", "driver_version": DRIVER_VERSION, "storage_protocol": storage_protocol,
                "total_capacity_gb": capacity["total_capacity_gb"], "free_capacity_gb": capacity["free_capacity_gb"],
                "allocated_capacity_gb": sum(sizes), "total_volumes": len(sizes), "reserved_percentage": 0,
                "thin_provisioning_support": True, "thick_provisioning_support": False, "multiattach": True,
                "QoS_support": False}

    # --- types --------------------------------------------------------------------------------------------
    def multiattach(self, vol: Volume) -> bool:
        return bool(vol.volume_type and _truthy_spec(vol.volume_type.extra_specs.get("multiattach")))

    # --- quotas -------------------------------------------------------------------------------------------
    def quotas(self, project_id: str) -> dict:
        limits = dict(DEFAULT_QUOTAS)
        for q in Quota.select().where(Quota.project_id == project_id):
            limits[q.resource] = q.hard_limit
        return limits

    def usage(self, project_id: str) -> dict:
        vols = Volume.select().where(Volume.project_id == project_id)
        return {"volumes": vols.count(), "gigabytes": sum(v.size for v in vols) +
                sum(s.size for s in Snapshot.select().where(Snapshot.project_id == project_id)),
                "snapshots": Snapshot.select().where(Snapshot.project_id == project_id).count()}

    def set_quotas(self, project_id: str, values: dict) -> None:
        for key, value in values.items():
            if key not in DEFAULT_QUOTAS:
                raise errors.BadRequest(f"Invalid input for field 'quota_set/{key}': unknown quota resource.")
            # Cinder's limit too: the column is a 32-bit integer on PostgreSQL
            if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= 2 ** 31 - 1:
                raise errors.BadRequest(f"Invalid input for field 'quota_set/{key}': must be an integer from -1 "
                                        "to 2147483647.")
        with database.atomic():
            for key, value in values.items():
                Quota.insert(project_id=project_id, resource=key, hard_limit=value).on_conflict(
                    conflict_target=[Quota.project_id, Quota.resource],
                    update={Quota.hard_limit: value}).execute()

    def _check_quota(self, project_id: str, volumes=0, gigabytes=0, snapshots=0, size=None) -> None:
        limits, used = self.quotas(project_id), self.usage(project_id)
        if size is not None and limits["per_volume_gigabytes"] >= 0 and size > limits["per_volume_gigabytes"]:
            raise errors.PayloadTooLarge(f"VolumeSizeExceedsLimit: requested volume size {size}G is larger than "
                                         f"the allowed limit {limits['per_volume_gigabytes']}G.")
        for res, extra in (("volumes", volumes), ("gigabytes", gigabytes), ("snapshots", snapshots)):
            if extra and limits[res] >= 0 and used[res] + extra > limits[res]:
                raise errors.PayloadTooLarge(f"VolumeLimitExceeded: maximum number of {res} allowed "
                                             f"({limits[res]}) exceeded.")

    # --- volumes ------------------------------------------------------------------------------------------
    def create(self, body: dict, ctx, may) -> Volume:
        """`may(rule, target)`: the route's call.check, for the source snapshot or volume the body names."""
        size = body.get("size")
        if isinstance(size, str) and size.isdigit():
            size = int(size)
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise errors.BadRequest("Invalid input for field 'size': must be an integer of at least 1 (GiB).")
        sources = [k for k in ("snapshot_id", "source_volid", "imageRef") if body.get(k)]
        if len(sources) > 1:
            raise errors.BadRequest(f"Invalid input: give only one of {', '.join(sources)}.")
        source, task = None, {"op": "create"}
        vtype = self.types.find(body.get("volume_type"))
        if body.get("snapshot_id"):
            snap = self.get_snapshot(body["snapshot_id"], ctx)
            if not may("volume:read", {"project_id": snap.project_id}):
                raise denied("volume:read")
            if snap.status != "available":
                raise errors.BadRequest(f"Invalid snapshot: snapshot {snap.id} is {snap.status}, not available.")
            size = size or snap.size
            if size < snap.size:
                raise errors.BadRequest(f"Invalid input for field 'size': {size}G is smaller than the snapshot "
                                        f"({snap.size}G).")
            task = {"op": "create", "snapshot_id": snap.id}
            source = {"snapshot_id": snap.id}
        elif body.get("source_volid"):
            src = self.get(body["source_volid"], ctx)
            if not may("volume:read", {"project_id": src.project_id}):
                raise denied("volume:read")
            if src.status not in ("available", "in-use"):
                raise errors.BadRequest(f"Invalid volume: source volume {src.id} is {src.status}.")
            size = size or src.size
            if size < src.size:
                raise errors.BadRequest(f"Invalid input for field 'size': {size}G is smaller than the source "
                                        f"volume ({src.size}G).")
            task = {"op": "create", "source_volid": src.id}
            source = {"source_volid": src.id}
        elif body.get("imageRef"):
            img, readable = self.images.data(body["imageRef"], ctx)
            if not readable or img.status != "active":
                raise errors.BadRequest(f"Invalid image: image {img.id} is {img.status}, not active.")
            # inspected again, as Cinder does: the store may hold data from before an inspector fix
            self.images.inspect_for_conversion(img)
            need = max(img.min_disk or 0, math.ceil((img.virtual_size or img.size or 0) / GiB))
            size = size or max(need, 1)
            if size < need:
                raise errors.BadRequest(f"Invalid input for field 'size': {size}G is smaller than the image "
                                        f"needs ({need}G).")
            task = {"op": "create", "image_id": img.id, "image_format": img.disk_format}
            source = {"image_metadata": {"image_id": img.id, "image_name": img.name or "",
                                         "disk_format": img.disk_format, "container_format": img.container_format,
                                         "checksum": img.checksum or "", "min_disk": str(img.min_disk),
                                         "min_ram": str(img.min_ram), "size": str(img.size)}, "bootable": True}
        if size is None:
            raise errors.BadRequest("Invalid input for field 'size': a size is required for a blank volume.")
        name, description = body.get("name"), body.get("description")
        for field, value, limit in (("name", name, 255), ("description", description, 255)):
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise errors.BadRequest(f"Invalid input for field '{field}': a string of at most {limit} "
                                        "characters.")
        metadata = self._check_metadata(body.get("metadata") or {})
        if body.get("availability_zone") not in (None, "", "nova"):  # one zone, as os-availability-zone says
            raise errors.BadRequest(f"Invalid input for field 'availability_zone': {body['availability_zone']!r} "
                                    "is not an available zone (nova).")
        with self.lock, database.atomic():
            self._check_quota(ctx.project_id, volumes=1, gigabytes=size, size=size)
            vol = Volume.create(project_id=ctx.project_id, user_id=ctx.user_id, name=name, description=description,
                                size=size, status="creating", volume_type=vtype.id, metadata=metadata,
                                availability_zone=body.get("availability_zone") or "nova", task=task,
                                snapshot_id=(source or {}).get("snapshot_id"),
                                source_volid=(source or {}).get("source_volid"),
                                image_metadata=(source or {}).get("image_metadata", {}),
                                bootable=(source or {}).get("bootable", False))
        self._run(self._do_create, vol.id)
        return Volume.get_by_id(vol.id)

    def _check_metadata(self, metadata) -> dict:
        if not isinstance(metadata, dict):
            raise errors.BadRequest("Invalid input for field 'metadata': must be an object of strings.")
        for key, value in metadata.items():
            if not isinstance(value, str) or not key or len(key) > 255 or len(value) > 255:
                raise errors.BadRequest(f"Invalid input for field 'metadata/{key[:40]}': keys and values are "
                                        "strings of 1-255 characters.")
        return metadata

    def _do_create(self, volume_id: str) -> None:
        vol = Volume.get_by_id(volume_id)
        task = vol.task or {}
        try:
            if task.get("snapshot_id"):
                self.driver.create_from_snapshot(vol.id, vol.size, task["snapshot_id"])
            elif task.get("source_volid"):
                self.driver.clone_volume(vol.id, vol.size, task["source_volid"])
            elif task.get("image_id"):
                with self.images.local_path(task["image_id"]) as image_path:
                    self.driver.create_from_image(vol.id, vol.size, image_path, task["image_format"])
            else:
                self.driver.create_volume(vol.id, vol.size)
        except (DriverError, OSError) as exc:
            log.error("volume %s: create failed: %s", vol.id, exc)
            Volume.update(status="error", task=None).where(Volume.id == vol.id).execute()
            return
        Volume.update(status="available", task=None, updated_at=utcnow()).where(Volume.id == vol.id).execute()

    def update(self, vol: Volume, body: dict) -> Volume:
        for field in ("name", "description"):
            if field in body:
                value = body[field]
                if value is not None and (not isinstance(value, str) or len(value) > 255):
                    raise errors.BadRequest(f"Invalid input for field '{field}': a string of at most 255 "
                                            "characters.")
                setattr(vol, field, value)
        if "metadata" in body:
            vol.metadata = self._check_metadata(body["metadata"])
        vol.save()
        return vol

    def set_metadata(self, vol: Volume, metadata, replace: bool) -> dict:
        metadata = self._check_metadata(metadata)
        vol.metadata = metadata if replace else {**vol.metadata, **metadata}
        vol.save()
        return vol.metadata

    def delete_metadata(self, vol: Volume, key: str) -> None:
        if key not in vol.metadata:
            raise errors.NotFound(f"Metadata key {key} of volume {vol.id} could not be found.")
        vol.metadata = {k: v for k, v in vol.metadata.items() if k != key}
        vol.save()

    def delete(self, vol: Volume, cascade=False, force=False) -> None:
        with self.lock, database.atomic():
            vol = Volume.get_by_id(vol.id)
            if Attachment.select().where(Attachment.volume == vol.id).exists() and not force:
                raise errors.BadRequest(f"Invalid volume: volume {vol.id} is attached; detach it first.")
            if vol.status not in DELETABLE and not force:
                raise errors.BadRequest(f"Invalid volume: volume status must be available or error or "
                                        f"error_restoring or error_extending or error_managing and must not be "
                                        f"migrating, attached, belong to a group, have snapshots or be "
                                        f"disassociated from snapshots after volume transfer (it is {vol.status}).")
            snaps = list(Snapshot.select().where(Snapshot.volume == vol.id))
            if snaps and not cascade:
                raise errors.BadRequest(f"Invalid volume: volume {vol.id} still has {len(snaps)} dependent "
                                        "snapshots.")
            for s in snaps:
                if s.status not in ("available", "error"):
                    raise errors.BadRequest(f"Invalid volume: snapshot {s.id} is {s.status}.")
            Snapshot.update(status="deleting").where(Snapshot.volume == vol.id).execute()
            Volume.update(status="deleting", task={"op": "delete"}).where(Volume.id == vol.id).execute()
        self._run(self._do_delete, vol.id)

    def _do_delete(self, volume_id: str) -> None:
        if self.exports is not None:
            # a force delete drops attachments that may still be exported: no target serves a deleted volume
            self.exports.unexport_quietly(Attachment.select().where(Attachment.volume == volume_id))
            Attachment.update(export=None).where(Attachment.volume == volume_id).execute()
        try:
            for snap in Snapshot.select().where(Snapshot.volume == volume_id):
                self.driver.delete_snapshot(snap.id)
                snap.delete_instance()
            self.driver.delete_volume(volume_id)
        except (DriverError, OSError) as exc:
            log.error("volume %s: delete failed: %s", volume_id, exc)
            Volume.update(status="error_deleting", task=None).where(Volume.id == volume_id).execute()
            return
        with database.atomic():
            Attachment.delete().where(Attachment.volume == volume_id).execute()
            Volume.delete().where(Volume.id == volume_id).execute()

    def extend(self, vol: Volume, new_size) -> None:
        if not isinstance(new_size, int) or isinstance(new_size, bool):
            if isinstance(new_size, str) and new_size.isdigit():
                new_size = int(new_size)
            else:
                raise errors.BadRequest("Invalid input for field 'os-extend/new_size': must be an integer.")
        with self.lock, database.atomic():
            vol = Volume.get_by_id(vol.id)
            # an iSCSI target fixed its LUN's size when it opened the volume (an admin's reset-status to available
            # does not change that)
            if Attachment.select().where((Attachment.volume == vol.id) & Attachment.export.is_null(False)).exists():
                raise errors.BadRequest(f"Invalid volume: volume {vol.id} is exported over iSCSI to a server on "
                                        "another node and cannot be extended; detach it from servers on other "
                                        "nodes first.")
            if vol.status != "available":
                raise errors.BadRequest(f"Invalid volume: volume status must be 'available' to extend, "
                                        f"currently in '{vol.status}'.")
            if new_size <= vol.size:
                raise errors.BadRequest(f"Invalid input for field 'os-extend/new_size': new size {new_size}G "
                                        f"must be greater than the current size {vol.size}G.")
            self._check_quota(vol.project_id, gigabytes=new_size - vol.size, size=new_size)
            Volume.update(status="extending", task={"op": "extend", "new_size": new_size}).where(
                Volume.id == vol.id).execute()
        self._run(self._do_extend, vol.id, new_size)

    def _do_extend(self, volume_id: str, new_size: int) -> None:
        try:
            self.driver.extend_volume(volume_id, new_size)
        except (DriverError, OSError) as exc:
            log.error("volume %s: extend failed: %s", volume_id, exc)
            Volume.update(status="error_extending", task=None).where(Volume.id == volume_id).execute()
            return
        Volume.update(status="available", size=new_size, task=None).where(Volume.id == volume_id).execute()

    def set_bootable(self, vol: Volume, value) -> None:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise errors.BadRequest("Invalid input for field 'os-set_bootable/bootable': must be a boolean.")
        vol.bootable = value
        vol.save()

    def reset_status(self, vol: Volume, body: dict) -> None:
        allowed = {"available", "error", "in-use", "creating", "deleting", "reserved", "attaching",
                   "detaching", "error_deleting", "error_extending", "maintenance"}
        if body.get("status") not in allowed:
            raise errors.BadRequest(f"Invalid input for field 'os-reset_status/status': {body.get('status')!r}.")
        Volume.update(status=body["status"], task=None).where(Volume.id == vol.id).execute()

    # --- snapshots ----------------------------------------------------------------------------------------
    def snapshot_source(self, body: dict, ctx) -> Volume:
        """The volume a snapshot create names (its project is the create's policy target)."""
        if not body.get("volume_id"):
            raise errors.BadRequest("Invalid input for field 'snapshot/volume_id': 'volume_id' is required.")
        return self.get(body["volume_id"], ctx)

    def create_snapshot(self, vol: Volume, body: dict, ctx) -> Snapshot:
        force = str(body.get("force", False)).lower() in ("true", "1")
        for field in ("name", "description"):
            value = body.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise errors.BadRequest(f"Invalid input for field 'snapshot/{field}': a string of at most 255 "
                                        "characters.")
        metadata = self._check_metadata(body.get("metadata") or {})
        with self.lock, database.atomic():
            vol = Volume.get_by_id(vol.id)
            if vol.status != "available" and not (force and vol.status == "in-use"):
                raise errors.BadRequest(f"Invalid volume: volume {vol.id} status must be available, but the "
                                        f"current status is {vol.status}.")
            self._check_quota(vol.project_id, snapshots=1, gigabytes=vol.size)
            snap = Snapshot.create(project_id=vol.project_id, user_id=ctx.user_id, volume=vol.id,
                                   name=body.get("name"), description=body.get("description"), size=vol.size,
                                   metadata=metadata)
        self._run(self._do_snapshot, snap.id, vol.id)
        return Snapshot.get_by_id(snap.id)

    def _do_snapshot(self, snapshot_id: str, volume_id: str) -> None:
        try:
            self.driver.create_snapshot(snapshot_id, volume_id)
        except (DriverError, OSError) as exc:
            log.error("snapshot %s: create failed: %s", snapshot_id, exc)
            Snapshot.update(status="error").where(Snapshot.id == snapshot_id).execute()
            return
        Snapshot.update(status="available").where(Snapshot.id == snapshot_id).execute()

    def update_snapshot(self, snap: Snapshot, body: dict) -> Snapshot:
        for field in ("name", "description"):
            if field in body:
                value = body[field]
                if value is not None and (not isinstance(value, str) or len(value) > 255):
                    raise errors.BadRequest(f"Invalid input for field 'snapshot/{field}': a string of at most "
                                            "255 characters.")
                setattr(snap, field, value)
        snap.save()
        return snap

    def delete_snapshot(self, snap: Snapshot) -> None:
        with self.lock, database.atomic():
            snap = Snapshot.get_by_id(snap.id)
            if snap.status not in ("available", "error"):
                raise errors.BadRequest(f"Invalid snapshot: snapshot status must be available or error, "
                                        f"currently {snap.status}.")
            Snapshot.update(status="deleting").where(Snapshot.id == snap.id).execute()
        self._run(self._do_delete_snapshot, snap.id)

    def _do_delete_snapshot(self, snapshot_id: str) -> None:
        try:
            self.driver.delete_snapshot(snapshot_id)
        except (DriverError, OSError) as exc:
            log.error("snapshot %s: delete failed: %s", snapshot_id, exc)
            Snapshot.update(status="error_deleting").where(Snapshot.id == snapshot_id).execute()
            return
        Snapshot.delete().where(Snapshot.id == snapshot_id).execute()

    # --- restart ------------------------------------------------------------------------------------------
    def reconcile(self) -> dict:
        """Finish or fail what a crash interrupted, judged against what the backend really holds."""
        report = {"volumes_failed": 0, "volumes_finished": 0, "snapshots_fixed": 0}
        self.types.ensure_default()
        directory = getattr(self.driver, "dir", None)
        if directory is not None:
            store.sweep_temp_files(directory)
        for vol in Volume.select().where(Volume.status.in_(["creating", "deleting", "extending", "attaching",
                                                            "detaching"])):
            if vol.status == "creating":
                ok = self.driver.exists(vol.id)
                Volume.update(status="available" if ok else "error", task=None).where(Volume.id == vol.id).execute()
                report["volumes_finished" if ok else "volumes_failed"] += 1
            elif vol.status == "deleting":
                self._do_delete(vol.id)
                report["volumes_finished"] += 1
            elif vol.status == "extending":
                new = (vol.task or {}).get("new_size")
                done = new and self.driver.exists(vol.id) and self.driver.virtual_size(vol.id) >= new * GiB
                Volume.update(status="available" if done else "error_extending", size=new if done else vol.size,
                              task=None).where(Volume.id == vol.id).execute()
                report["volumes_finished" if done else "volumes_failed"] += 1
            elif vol.status == "attaching":
                # compute may still finish the attach with os-complete, which error_attaching accepts
                Volume.update(status="error_attaching").where(Volume.id == vol.id).execute()
                report["volumes_failed"] += 1
            else:  # detaching: roll back, as os-roll_detaching would
                Volume.update(status="in-use").where(Volume.id == vol.id).execute()
                report["volumes_finished"] += 1
        for snap in Snapshot.select().where(Snapshot.status.in_(["creating", "deleting"])):
            if snap.status == "creating":
                ok = self.driver.snapshot_exists(snap.id)
                Snapshot.update(status="available" if ok else "error").where(Snapshot.id == snap.id).execute()
            else:
                self._do_delete_snapshot(snap.id)
            report["snapshots_fixed"] += 1
        return report
