"""Building and tearing down a server: ports, image cache, disks, config drive, spawn; delete releases it all."""
from __future__ import annotations

import logging
import time

from appliance.db import utcnow
from services.compute import access, faults, moves, scheduler
from services.compute.configdrive import config_drive_files
from services.compute.drivers import base as drv
from services.compute.external import ExternalError
from services.compute.faults import BuildError
from services.compute.models import Instance, VolumeAttachment
from services.compute.tasks import in_db

log = logging.getLogger(__name__)

__all__ = ["BuildError", "ServerBuilder"]


class ServerBuilder:
    """The asynchronous half of create and delete; every failure leaves a clean ERROR server with a fault."""

    def __init__(self, node, devices):
        self.node = node
        self.devices = devices
        self.image = node.image

    # -- build --------------------------------------------------------------------------------------------
    @in_db
    def build_instance(self, instance_id: str, token: str | None) -> None:
        # the instance lock makes a delete wait for the build to stop at its next step
        with self.node.tasks.lock_for(instance_id):
            self._build(instance_id, token)

    def _build(self, instance_id: str, token: str | None) -> None:
        inst = Instance.get_by_id(instance_id)
        try:
            self._check_group(inst)
            inst.host = scheduler.place(self.node, inst, token).host
            # the guest is named as its node names domains (a site's nodes may each have their own prefix)
            inst.domain_name = self.node.driver_for(inst).prefix + inst.id
            self._task(inst, "networking")
            vifs = self.devices.allocate_ports(inst, token)
            self._task(inst, "block_device_mapping")
            spec = self.guest_spec(inst, vifs, token)
            self._task(inst, "spawning")
            inst = Instance.get_by_id(instance_id)
            if inst.task_state == "deleting":
                return
            driver = self.node.driver_for(inst)
            driver.spawn(spec)
            self._injected_delay(inst)
            inst = Instance.get_by_id(instance_id)
            inst.vm_state, inst.task_state = "active", None
            inst.power_state = driver.power_state(inst.domain_name)
            inst.launched_at = utcnow()
            inst.save()
            log.info("server %s active as %s", inst.id, inst.domain_name)
        except Exception as exc:  # every failure leaves a clean ERROR server with a fault
            log.warning("build of %s failed: %s", instance_id, exc, exc_info=not isinstance(
                exc, (BuildError, drv.DriverError, ExternalError)))
            self._fail_build(instance_id, exc)

    def _injected_delay(self, inst) -> None:
        """Crash tests: with compute.fault_injection on, metadata egret_build_delay holds the build after spawn."""
        if self.node.section.get("fault_injection") and (inst.metadata or {}).get("egret_build_delay"):
            time.sleep(float(inst.metadata["egret_build_delay"]))

    def _task(self, inst, task: str) -> None:
        fresh = Instance.get_by_id(inst.id)
        if fresh.task_state == "deleting":
            raise BuildError("deleted while building")
        inst.task_state = task
        inst.save()

    def _fail_build(self, instance_id: str, exc) -> None:
        inst = Instance.get_by_id(instance_id)
        if inst.task_state == "deleting":
            return  # the delete task finishes the job
        self.teardown(inst, keep_volumes=True)
        inst = Instance.get_by_id(instance_id)
        faults.record(inst, exc, building=True)
        inst.vm_state, inst.task_state, inst.power_state = "error", None, drv.NOSTATE
        inst.save()

    def _check_group(self, inst) -> None:
        """Server groups are the scheduler's filters and weighers (scheduler/filters.py), decided inside the claim
        so that members created together see each other's places."""

    def _cached_image(self, inst, driver, image_id: str, token) -> dict:
        """Have an image in the cache of the server's node (fetched once, shared by every overlay on it), after
        checking the user may use it; its metadata.

        The check comes first even when the image is cached: another project's download must not open it."""
        try:
            meta = access.image(self.image, image_id, inst, token)
        except access.AccessDenied as exc:
            raise BuildError(f"Image {image_id} could not be used: {exc}") from None
        if meta.get("status", "active") != "active":
            raise BuildError(f"Image {image_id} could not be used: it is {meta.get('status')}, not active.")
        # one download per image and node at a time; the node verifies it against the image service's checksum
        with self.node.tasks.lock_for(f"image:{inst.host}:{image_id}"):
            if not driver.image_cached(image_id):
                algo, value = checksum_of(meta)
                if algo is None:
                    log.warning("image %s has no checksum: cached on %s unverified", image_id, inst.host)
                # the node's cache is the service's: a long download must not depend on the user's token
                chunks = self.image.download_chunks(image_id, None)
                try:
                    driver.cache_image(image_id, chunks, algo, value)
                except drv.DriverError as exc:   # a checksum mismatch, the node's disk: its words, naming the image
                    raise BuildError(str(exc)) from None
                finally:
                    if hasattr(chunks, "close"):
                        chunks.close()   # a refusal before the data was read lets the connection go now
        return meta

    def guest_spec(self, inst, vifs, token) -> drv.GuestSpec:
        """The guest as it runs on its node (inst.host): root disk (kept if the node has one), volumes, config
        drive, NICs; a build's and a move's."""
        driver = self.node.driver_for(inst)
        disks = []
        image_info, kernel, initrd = {}, None, None
        if inst.image_ref:
            meta = self._cached_image(inst, driver, inst.image_ref, token)
            fmt = meta.get("disk_format") or "qcow2"
            if fmt not in ("qcow2", "raw"):
                raise BuildError(f"Image {inst.image_ref} has disk_format {fmt}; qcow2 or raw can be booted.")
            try:
                size = int(inst.flavor.get("disk") or 0) << 30
                root = driver.create_root_disk(inst.id, inst.image_ref, fmt, size)
            except drv.UnsafeDisk as exc:
                raise BuildError(f"Image {inst.image_ref} is unacceptable: {exc}") from None
            except drv.DriverError as exc:  # qemu-img's own words, as a build step's failure
                raise BuildError(str(exc)) from None
            disks.append(drv.DiskSpec(path=root, target="vda"))
            for key in ("kernel_id", "ramdisk_id"):
                if meta.get(key):
                    # a user's image may name any kernel_id: the kernel must be theirs to use too
                    self._cached_image(inst, driver, meta[key], token)
                    image_info[key] = meta[key]
            if image_info.get("kernel_id"):
                kernel = driver.cached_image_path(image_info["kernel_id"])
            if image_info.get("ramdisk_id"):
                initrd = driver.cached_image_path(image_info["ramdisk_id"])
            image_info["os_command_line"] = meta.get("os_command_line")
        for att in inst.attachments.order_by(VolumeAttachment.boot_index.desc(nulls="LAST")):
            att.device = att.device or self.devices.next_device(inst, disks)
            disks.append(self.devices.connect_volume(inst, att, token))
        if inst.config_drive:
            try:
                iso = driver.write_config_drive(inst.id, config_drive_files(inst))
            except drv.DriverError as exc:  # no ISO tool on this node is the admin's to fix, as before
                raise RuntimeError(str(exc)) from None
            disks.append(drv.DiskSpec(path=iso, target="sda", format="raw", bus="sata", device="cdrom",
                                      readonly=True))
        inst.image = image_info
        inst.save()
        return drv.GuestSpec(
            name=inst.domain_name, uuid=inst.id, vcpus=int(inst.flavor["vcpus"]), memory_mb=int(inst.flavor["ram"]),
            disks=disks, vifs=vifs, kernel=kernel, initrd=initrd,
            cmdline=image_info.get("os_command_line") or ("console=ttyS0" if kernel else None),
            console_log=driver.console_path(inst.id), extra_specs=dict(inst.flavor.get("extra_specs") or {}),
            metadata={"project": inst.project_id, "server": inst.name}, **scheduler.held(inst.id))

    # -- teardown -----------------------------------------------------------------------------------------
    def teardown(self, inst, keep_volumes=False) -> None:
        """Destroy the domain and release every port, attachment and file the server holds.

        With the service's credentials: the user's token may have expired (a delete long after the create, a
        build that failed late, reconcile after a restart), and what is released is what this server recorded
        as its own (ports it bound, attachments it made)."""
        driver = None
        try:
            driver = self.node.driver_for(inst)
            driver.destroy(inst.domain_name)
        except drv.DriverError as exc:
            log.warning("destroy %s: %s", inst.domain_name, exc)
        for record in list(inst.ports or []):
            self.devices.release_port(record)
        inst.ports = []
        inst.save()
        self.devices.release_unrecorded_ports(inst)
        self.devices.release_volumes(inst, keep_volumes)
        try:
            if driver is not None:
                driver.delete_instance_files(inst.id)
        except drv.DriverError as exc:
            log.warning("files of %s: %s", inst.id, exc)
        moves.forget_unconfirmed(self.node, inst.id)   # a cold migration's source copy and claim go too
        scheduler.release(inst.id)

    @in_db
    def delete_instance(self, instance_id: str) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.node.tasks.lock_for(instance_id):
            self.teardown(inst)
            inst = Instance.get_by_id(instance_id)
            inst.deleted, inst.vm_state, inst.task_state = True, "deleted", None
            inst.power_state, inst.terminated_at = drv.NOSTATE, utcnow()
            inst.save()


def checksum_of(meta: dict) -> tuple:
    """(algorithm, hex digest) of an image as the image service recorded it: os_hash_*, else md5 `checksum`."""
    if meta.get("os_hash_algo") and meta.get("os_hash_value"):
        return meta["os_hash_algo"], meta["os_hash_value"]
    if meta.get("checksum"):
        return "md5", meta["checksum"]
    return None, None
