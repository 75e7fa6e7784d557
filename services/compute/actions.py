"""The asynchronous half of a server's actions: power, reboot, resize (and its revert), snapshot, console."""
from __future__ import annotations

import dataclasses
import logging
import xml.etree.ElementTree as ET

from appliance.errors import BadRequest, Conflict
from services.compute import faults, scheduler
from services.compute.drivers import base as drv
from services.compute.drivers.libvirt.xml import join_portal, vif_from_xml
from services.compute.external import ExternalError
from services.compute.models import Instance
from services.compute.tasks import in_db

log = logging.getLogger(__name__)


class ServerActions:
    """What runs after the API accepted an action and set the task state: the driver call and the new state."""

    def __init__(self, node):
        self.node = node
        self.image = node.image

    # -- power actions ------------------------------------------------------------------------------------
    @in_db
    def do_power_action(self, instance_id: str, name: str) -> None:
        inst = Instance.get_by_id(instance_id)
        dom = inst.domain_name
        driver = self.node.driver_for(inst)
        steps = {
            "os-start": (lambda: driver.power_on(dom), "active"),
            "os-stop": (lambda: driver.power_off(dom, self.node.shutdown_timeout), "stopped"),
            "pause": (lambda: driver.pause(dom), "paused"),
            "unpause": (lambda: driver.unpause(dom), "active"),
            "suspend": (lambda: driver.suspend(dom), "suspended"),
            "resume": (lambda: driver.resume(dom), "active"),
        }
        fn, state = steps[name]
        with self.node.tasks.lock_for(instance_id):
            try:
                fn()
                inst.vm_state = state
            except drv.DriverError as exc:
                faults.record(inst, exc)
                if name != "os-stop":
                    log.warning("%s on %s failed: %s", name, instance_id, exc)
                else:
                    inst.vm_state = "error"
            inst.task_state = None
            inst.power_state = driver.power_state(dom)
            inst.save()

    @in_db
    def do_reboot(self, instance_id: str, hard: bool) -> None:
        inst = Instance.get_by_id(instance_id)
        driver = self.node.driver_for(inst)
        with self.node.tasks.lock_for(instance_id):
            try:
                if inst.vm_state in ("paused", "suspended", "stopped", "error"):
                    hard = True
                driver.reboot(inst.domain_name, hard=hard, timeout=self.node.shutdown_timeout)
                inst.vm_state = "active"
            except drv.DriverError as exc:
                faults.record(inst, exc)
                inst.vm_state = "error"
            inst.task_state = None
            inst.power_state = driver.power_state(inst.domain_name)
            inst.save()

    @in_db
    def do_resize(self, instance_id: str, new_flavor: dict) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.node.tasks.lock_for(instance_id):
            try:
                self._redefine(inst, new_flavor, old=inst.flavor)
                inst.vm_state, inst.task_state = "resized", None
            except Exception as exc:
                faults.record(inst, exc)
                inst.task_state = None
            driver = self.node.driver_for(inst)
            inst.power_state = driver.power_state(inst.domain_name)
            inst.save()

    @in_db
    def do_revert_resize(self, instance_id: str) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.node.tasks.lock_for(instance_id):
            old = inst.old_flavor
            self._redefine(inst, old, old=None)
            scheduler.settle(inst, old)   # the claim lets go of the new flavor's share
            inst.vm_state, inst.task_state = "active", None
            driver = self.node.driver_for(inst)
            inst.power_state = driver.power_state(inst.domain_name)
            inst.save()

    def _redefine(self, inst, flavor: dict, old) -> None:
        """Resize on one host: same disks, new vCPUs/RAM (and a bigger root disk if the flavor says)."""
        driver = self.node.driver_for(inst)
        scheduler.resize(inst, flavor)   # room on its node first: with none, nothing is torn down
        running = driver.power_state(inst.domain_name) == drv.RUNNING
        tree_xml = driver.xml(inst.domain_name)
        # stopped and defined anew over its definition, not undefined: the secrets of its network disks (volumes
        # over iSCSI) go with an undefine, and a definition read back has no passwords to define them again
        driver.power_off(inst.domain_name)
        # a volume-backed server has no root disk of its own (no image_ref) to grow
        if inst.image_ref and int(flavor.get("disk") or 0) > int(inst.flavor.get("disk") or 0):
            driver.grow_root_disk(inst.id, inst.image_ref, int(flavor["disk"]))
        spec = dataclasses.replace(spec_from_xml(tree_xml, inst, flavor), **scheduler.held(inst.id))
        driver.define(spec)
        if running:
            driver.power_on(inst.domain_name)
        inst.old_flavor = old
        inst.flavor = flavor

    # -- snapshot -----------------------------------------------------------------------------------------
    def start_snapshot(self, inst, args, token) -> dict:
        name = (args or {}).get("name")
        if not name:
            raise BadRequest("Invalid input for field 'name': None is not of type 'string'.")
        if inst.boot_from_volume:
            raise BadRequest("Snapshots of volume-backed servers are not supported here.")
        props = {k: v for k, v in ((args or {}).get("metadata") or {}).items()}
        img = inst.image or {}
        for key in ("kernel_id", "ramdisk_id", "os_command_line"):
            if img.get(key):
                props[key] = img[key]
        body = {"name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
                "instance_uuid": inst.id, "image_type": "snapshot", "base_image_ref": inst.image_ref, **props}
        try:
            image = self.image.create_image(body, token)
        except ExternalError as exc:
            raise BadRequest(f"Unable to create the image: {exc}") from None
        inst.task_state = "image_snapshot"
        inst.save()
        self.node.tasks.submit(self.do_snapshot, inst.id, image["id"])
        return image

    @in_db
    def do_snapshot(self, instance_id: str, image_id: str) -> None:
        inst = Instance.get_by_id(instance_id)
        chunks = None
        try:
            driver = self.node.driver_for(inst)
            with self.node.tasks.lock_for(instance_id):
                paused = driver.power_state(inst.domain_name) == drv.RUNNING
                if paused:
                    driver.pause(inst.domain_name)  # a consistent copy without a live block job
                try:
                    # the copy is made before this returns: the guest runs on while its data is uploaded
                    chunks = driver.export_root_disk(inst.id, inst.image_ref)
                finally:
                    if paused:
                        driver.unpause(inst.domain_name)
            # the image this server's user created just now (start_snapshot); the service uploads it, so that a
            # long upload does not outlive the user's token
            self.image.upload_chunks(image_id, chunks, None)
        except Exception as exc:
            log.warning("snapshot of %s failed: %s", instance_id, exc)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()   # an upload that failed half-way lets the node drop its copy now
            inst = Instance.get_by_id(instance_id)
            inst.task_state = None
            inst.save()

    # -- console ------------------------------------------------------------------------------------------
    def console_output(self, inst: Instance, length) -> dict:
        lines = None
        if length is not None:
            try:
                lines = int(length)
            except (TypeError, ValueError):
                raise BadRequest(f"Invalid input for field 'length': {length!r} is not an integer.") from None
            if lines < -1:
                raise BadRequest("Invalid input for field 'length': it must be -1 or larger.")
            if lines == -1:
                lines = None
        if inst.vm_state == "building" and not inst.host:
            raise Conflict(f"Instance {inst.id} has not finished building yet.")
        driver = self.node.driver_for(inst)
        return {"output": driver.console_log(inst.id, lines)}


def spec_from_xml(xml_text: str, inst, flavor: dict) -> drv.GuestSpec:
    """Rebuild a GuestSpec from the live definition, for a resize that keeps disks and NICs."""
    tree = ET.fromstring(xml_text)
    disks = [_disk_from_xml(d) for d in tree.findall("./devices/disk")]
    vifs = [vif_from_xml(i) for i in tree.findall("./devices/interface")]
    log_el = tree.find("./devices/serial/log")
    return drv.GuestSpec(name=inst.domain_name, uuid=inst.id, vcpus=int(flavor["vcpus"]),
                         memory_mb=int(flavor["ram"]), disks=disks, vifs=vifs,
                         kernel=tree.findtext("./os/kernel"), initrd=tree.findtext("./os/initrd"),
                         cmdline=tree.findtext("./os/cmdline"),
                         console_log=log_el.get("file") if log_el is not None else "",
                         extra_specs=dict(flavor.get("extra_specs") or {}),
                         metadata={"project": inst.project_id, "server": inst.name})


def _disk_from_xml(d: ET.Element) -> drv.DiskSpec:
    src = d.find("source")
    disk = drv.DiskSpec(path=src.get("file") or src.get("dev") or src.get("name"), target=d.find("target").get("dev"),
                        format=d.find("driver").get("type"), bus=d.find("target").get("bus"), device=d.get("device"),
                        source_type=d.get("type"), readonly=d.find("readonly") is not None,
                        serial=d.findtext("serial"))
    if disk.source_type == "network":
        _network_from_xml(disk, d, src)
    return disk


def _network_from_xml(disk: drv.DiskSpec, d: ET.Element, src: ET.Element) -> None:
    """A network disk's target, portal, initiator and CHAP user; its password stays in the node's secret (a spec
    without one reuses it)."""
    host = src.find("host")
    disk.protocol = src.get("protocol")
    if host is not None:
        disk.portal = join_portal(host.get("name"), host.get("port") or "3260")
    disk.initiator = src.find("initiator/iqn").get("name") if src.find("initiator/iqn") is not None else None
    auth = src.find("auth") if src.find("auth") is not None else d.find("auth")   # libvirt writes either
    disk.auth_username = auth.get("username") if auth is not None else None
