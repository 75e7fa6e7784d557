"""Building and tearing down a server: ports, image cache, disks, config drive, spawn; delete releases it all."""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from appliance.db import utcnow
from services.compute import access, faults, scheduler
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
        self.driver = node.driver
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
            self._task(inst, "networking")
            vifs = self.devices.allocate_ports(inst, token)
            self._task(inst, "block_device_mapping")
            spec = self._guest_spec(inst, vifs, token)
            self._task(inst, "spawning")
            inst = Instance.get_by_id(instance_id)
            if inst.task_state == "deleting":
                return
            self.driver.spawn(spec)
            self._injected_delay(inst)
            inst = Instance.get_by_id(instance_id)
            inst.vm_state, inst.task_state = "active", None
            inst.power_state = self.driver.power_state(inst.domain_name)
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

    def _cached_image(self, inst, image_id: str, token) -> tuple[Path, dict]:
        """Download an image once into _base (shared by every overlay on it), after checking the user may use it.

        The check comes first even when the file is cached: another project's download must not open it."""
        try:
            meta = access.image(self.image, image_id, inst, token)
        except access.AccessDenied as exc:
            raise BuildError(f"Image {image_id} could not be used: {exc}") from None
        if meta.get("status", "active") != "active":
            raise BuildError(f"Image {image_id} could not be used: it is {meta.get('status')}, not active.")
        base = self.node.mkdir(self.node.instances_dir / "_base")
        path = base / image_id
        with self.node.tasks.lock_for("image:" + image_id):
            if not path.exists():
                tmp = base / f".{image_id}.part"
                # the node's cache is the service's: a long download must not depend on the user's token
                self.image.download(image_id, str(tmp), None)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
        return path, meta

    def _guest_spec(self, inst, vifs, token) -> drv.GuestSpec:
        idir = self.node.mkdir(self.node.instance_dir(inst))
        disks = []
        image_info = {}
        if inst.image_ref:
            base_path, meta = self._cached_image(inst, inst.image_ref, token)
            fmt = meta.get("disk_format") or "qcow2"
            if fmt not in ("qcow2", "raw"):
                raise BuildError(f"Image {inst.image_ref} has disk_format {fmt}; qcow2 or raw can be booted.")
            overlay = idir / "disk"
            if not overlay.exists():
                try:
                    size = int(inst.flavor.get("disk") or 0) << 30
                    self.driver.create_overlay(str(base_path), fmt, str(overlay), size)
                except drv.UnsafeDisk as exc:
                    raise BuildError(f"Image {inst.image_ref} is unacceptable: {exc}") from None
                except drv.DriverError as exc:  # qemu-img's own words, as a build step's failure
                    raise BuildError(str(exc)) from None
            disks.append(drv.DiskSpec(path=str(overlay), target="vda"))
            for key in ("kernel_id", "ramdisk_id"):
                if meta.get(key):
                    # a user's image may name any kernel_id: the kernel must be theirs to use too
                    path, _ = self._cached_image(inst, meta[key], token)
                    image_info[key] = meta[key]
                    image_info[key[:-3] + "_path"] = str(path)
            image_info["os_command_line"] = meta.get("os_command_line")
        for att in inst.attachments.order_by(VolumeAttachment.boot_index.desc(nulls="LAST")):
            att.device = att.device or self.devices.next_device(inst, disks)
            disks.append(self.devices.connect_volume(inst, att, token))
        if inst.config_drive:
            iso = idir / "disk.config"
            try:
                self.driver.write_config_drive(config_drive_files(inst), str(iso))
            except drv.DriverError as exc:  # no ISO tool on this node is the admin's to fix, as before
                raise RuntimeError(str(exc)) from None
            disks.append(drv.DiskSpec(path=str(iso), target="sda", format="raw", bus="sata", device="cdrom",
                                      readonly=True))
        inst.image = image_info
        inst.save()
        return drv.GuestSpec(
            name=inst.domain_name, uuid=inst.id, vcpus=int(inst.flavor["vcpus"]), memory_mb=int(inst.flavor["ram"]),
            disks=disks, vifs=vifs, kernel=image_info.get("kernel_path"), initrd=image_info.get("ramdisk_path"),
            cmdline=image_info.get("os_command_line") or ("console=ttyS0" if image_info.get("kernel_path") else None),
            console_log=str(self.node.console_path(inst)), extra_specs=dict(inst.flavor.get("extra_specs") or {}),
            metadata={"project": inst.project_id, "server": inst.name}, cpuset=scheduler.cpuset(inst.id))

    # -- teardown -----------------------------------------------------------------------------------------
    def teardown(self, inst, keep_volumes=False) -> None:
        """Destroy the domain and release every port, attachment and file the server holds.

        With the service's credentials: the user's token may have expired (a delete long after the create, a
        build that failed late, reconcile after a restart), and what is released is what this server recorded
        as its own (ports it bound, attachments it made)."""
        try:
            self.driver.destroy(inst.domain_name)
        except drv.DriverError as exc:
            log.warning("destroy %s: %s", inst.domain_name, exc)
        for record in list(inst.ports or []):
            self.devices.release_port(record)
        inst.ports = []
        inst.save()
        self.devices.release_unrecorded_ports(inst)
        self.devices.release_volumes(inst, keep_volumes)
        shutil.rmtree(self.node.instance_dir(inst), ignore_errors=True)
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


def backing(instances_dir, inst) -> list:
    """The cached base under a server's overlay: the only other file qemu-img may open through it."""
    base = Path(instances_dir) / "_base" / str(inst.image_ref or "")
    return [base] if inst.image_ref and base.exists() else []
