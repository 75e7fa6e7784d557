"""The asynchronous side of compute: build, delete, power actions, resize, snapshot, volumes, reconcile."""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

from appliance import diskimage
from appliance.db import utcnow
from services.compute import access
from services.compute.drivers import base as drv
from services.compute.external import ExternalError
from services.compute.models import Instance, ServerGroup, VolumeAttachment, database

log = logging.getLogger(__name__)


class BuildError(Exception):
    """A build step failed; the message becomes the server's fault."""


def _db(fn):
    """Run a task in its own database connection (tasks run on worker threads)."""
    def wrapper(self, *args, **kwargs):
        with database.connection_context():
            return fn(self, *args, **kwargs)
    wrapper.__name__ = fn.__name__
    return wrapper


class BuildMixin:
    # -- paths ------------------------------------------------------------------------------------------
    def instance_dir(self, inst) -> Path:
        return self.instances_dir / inst.id

    def console_path(self, inst) -> Path:
        return self.instance_dir(inst) / "console.log"

    def _mkdir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        # qemu runs as libvirt's own user: it must traverse to the disks
        os.chmod(path, 0o755)
        return path

    # -- build --------------------------------------------------------------------------------------------
    @_db
    def build_instance(self, instance_id: str, token: str | None) -> None:
        # the instance lock makes a delete wait for the build to stop at its next step
        with self.lock_for(instance_id):
            self._build(instance_id, token)

    def _build(self, instance_id: str, token: str | None) -> None:
        inst = Instance.get_by_id(instance_id)
        try:
            self._check_group(inst)
            inst.host = self.host
            self._task(inst, "networking")
            vifs = self._allocate_ports(inst, token)
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
        if self.section.get("fault_injection") and (inst.metadata or {}).get("egret_build_delay"):
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
        self._teardown(inst, keep_volumes=True)
        inst = Instance.get_by_id(instance_id)
        self.fault(inst, exc, building=True)
        inst.vm_state, inst.task_state, inst.power_state = "error", None, drv.NOSTATE
        inst.save()

    def _check_group(self, inst) -> None:
        if not inst.server_group_id:
            return
        group = ServerGroup.get_or_none(ServerGroup.id == inst.server_group_id)
        if group and group.policy == "anti-affinity":
            others = Instance.select().where((Instance.server_group_id == group.id) & (Instance.deleted == False)  # noqa
                                             & (Instance.id != inst.id) & (Instance.host == self.host))
            if others.exists():
                raise BuildError("No valid host was found. There are not enough hosts available "
                                 f"(server group {group.id} has policy anti-affinity).")

    def _allocate_ports(self, inst, token) -> list:
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
            bound = self.network.update_port(port["id"], {"binding:host_id": self.host, "device_id": inst.id,
                                                          "device_owner": "compute:nova"}, None)
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
        bridge = details.get("bridge_name")
        if not bridge:
            raise BuildError(f"Port {port['id']} was bound without a bridge (binding:vif_details.bridge_name).")
        record.update({"mac": port["mac_address"], "bridge": bridge, "tap": "tap" + port["id"][:11],
                       "ips": [ip["ip_address"] for ip in port.get("fixed_ips", [])]})
        try:
            # the name only, of the network of a port already checked as the server's
            record["network_name"] = self.network.get_network(port["network_id"]).get("name")
        except ExternalError:
            record["network_name"] = port["network_id"]
        return drv.VifSpec(bridge=bridge, tap=record["tap"], mac=record["mac"], port_id=port["id"])

    def _cached_image(self, inst, image_id: str, token) -> tuple[Path, dict]:
        """Download an image once into _base (shared by every overlay on it), after checking the user may use it.

        The check comes first even when the file is cached: another project's download must not open it."""
        try:
            meta = access.image(self.image, image_id, inst, token)
        except access.AccessDenied as exc:
            raise BuildError(f"Image {image_id} could not be used: {exc}") from None
        if meta.get("status", "active") != "active":
            raise BuildError(f"Image {image_id} could not be used: it is {meta.get('status')}, not active.")
        base = self._mkdir(self.instances_dir / "_base")
        path = base / image_id
        with self.lock_for("image:" + image_id):
            if not path.exists():
                tmp = base / f".{image_id}.part"
                # the node's cache is the service's: a long download must not depend on the user's token
                self.image.download(image_id, str(tmp), None)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
        return path, meta

    def _guest_spec(self, inst, vifs, token) -> drv.GuestSpec:
        idir = self._mkdir(self.instance_dir(inst))
        disks = []
        image_info = {}
        if inst.image_ref:
            base_path, meta = self._cached_image(inst, inst.image_ref, token)
            fmt = meta.get("disk_format") or "qcow2"
            if fmt not in ("qcow2", "raw"):
                raise BuildError(f"Image {inst.image_ref} has disk_format {fmt}; qcow2 or raw can be booted.")
            overlay = idir / "disk"
            if not overlay.exists():
                _inspect_base(inst.image_ref, base_path, fmt)
                cmd = ["create", "-q", "-f", "qcow2", "-b", str(base_path), "-F", fmt, str(overlay)]
                if int(inst.flavor.get("disk") or 0) > 0:
                    virtual = _virtual_size(base_path, fmt)
                    wanted = int(inst.flavor["disk"]) << 30
                    if wanted > virtual:
                        cmd.append(str(wanted))
                _qemu_img(cmd, readable=[base_path], writable=[overlay], new=overlay)
            disks.append(drv.DiskSpec(path=str(overlay), target="vda"))
            for key in ("kernel_id", "ramdisk_id"):
                if meta.get(key):
                    # a user's image may name any kernel_id: the kernel must be theirs to use too
                    path, _ = self._cached_image(inst, meta[key], token)
                    image_info[key] = meta[key]
                    image_info[key[:-3] + "_path"] = str(path)
            image_info["os_command_line"] = meta.get("os_command_line")
        for att in inst.attachments.order_by(VolumeAttachment.boot_index.desc(nulls="LAST")):
            att.device = att.device or self._next_device(inst, disks)
            disks.append(self._connect_volume(inst, att, token))
        if inst.config_drive:
            from services.compute.configdrive import build_config_drive
            iso = idir / "disk.config"
            build_config_drive(self, inst, str(iso))
            disks.append(drv.DiskSpec(path=str(iso), target="sda", format="raw", bus="sata", device="cdrom",
                                      readonly=True))
        inst.image = image_info
        inst.save()
        return drv.GuestSpec(
            name=inst.domain_name, uuid=inst.id, vcpus=int(inst.flavor["vcpus"]), memory_mb=int(inst.flavor["ram"]),
            disks=disks, vifs=vifs, kernel=image_info.get("kernel_path"), initrd=image_info.get("ramdisk_path"),
            cmdline=image_info.get("os_command_line") or ("console=ttyS0" if image_info.get("kernel_path") else None),
            console_log=str(self.console_path(inst)), extra_specs=dict(inst.flavor.get("extra_specs") or {}),
            metadata={"project": inst.project_id, "server": inst.name})

    def _next_device(self, inst, disks=()) -> str:
        used = {a.device for a in inst.attachments if a.device} | {d.target for d in disks}
        for letter in "bcdefghijklmnopqrstuvwxyz":
            if f"vd{letter}" not in used:
                return f"vd{letter}"
        raise BuildError("No free disk device name left.")

    def _connect_volume(self, inst, att, token) -> drv.DiskSpec:
        """Attach with the service's credentials (connection info names host paths; the user's token may be gone
        by the time a build reaches its volumes) once the volume is checked as the server's project's."""
        access.volume(self.volume, att.volume_id, inst, token)
        connector = {"host": self.host, "platform": "x86_64", "os_type": "linux", "multipath": False,
                     "initiator": None, "mountpoint": f"/dev/{att.device}"}
        created = self.volume.create_attachment(inst.project_id, att.volume_id, inst.id, connector, None)
        att.attachment_id = created["id"]
        att.save()  # recorded before use, so a crash still knows what to release
        info = created.get("connection_info") or {}
        att.connection_info = info
        att.save()
        data = info.get("data") or {}
        kind = info.get("driver_volume_type", "file")
        if kind not in ("file", "block", "local"):
            raise BuildError(f"Volume {att.volume_id} uses {kind}, which this host cannot attach.")
        self.volume.complete_attachment(inst.project_id, att.attachment_id, None)
        return drv.DiskSpec(path=data.get("path") or data.get("device_path"), target=att.device,
                            format=data.get("format", "raw"), source_type="block" if kind == "block" else "file",
                            serial=att.volume_id)

    # -- teardown -----------------------------------------------------------------------------------------
    def _teardown(self, inst, keep_volumes=False) -> None:
        """Destroy the domain and release every port, attachment and file the server holds.

        With the service's credentials: the user's token may have expired (a delete long after the create, a
        build that failed late, reconcile after a restart), and what is released is what this server recorded
        as its own (ports it bound, attachments it made)."""
        try:
            self.driver.destroy(inst.domain_name)
        except drv.DriverError as exc:
            log.warning("destroy %s: %s", inst.domain_name, exc)
        for record in list(inst.ports or []):
            self._release_port(record)
        inst.ports = []
        inst.save()
        self._release_unrecorded_ports(inst)
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
        shutil.rmtree(self.instance_dir(inst), ignore_errors=True)

    def _release_unrecorded_ports(self, inst) -> None:
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

    @_db
    def delete_instance(self, instance_id: str) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.lock_for(instance_id):
            self._teardown(inst)
            inst = Instance.get_by_id(instance_id)
            inst.deleted, inst.vm_state, inst.task_state = True, "deleted", None
            inst.power_state, inst.terminated_at = drv.NOSTATE, utcnow()
            inst.save()

    # -- power actions ------------------------------------------------------------------------------------
    @_db
    def do_power_action(self, instance_id: str, name: str) -> None:
        inst = Instance.get_by_id(instance_id)
        dom = inst.domain_name
        steps = {
            "os-start": (lambda: self.driver.power_on(dom), "active"),
            "os-stop": (lambda: self.driver.power_off(dom, self.shutdown_timeout), "stopped"),
            "pause": (lambda: self.driver.pause(dom), "paused"),
            "unpause": (lambda: self.driver.unpause(dom), "active"),
            "suspend": (lambda: self.driver.suspend(dom), "suspended"),
            "resume": (lambda: self.driver.resume(dom), "active"),
        }
        fn, state = steps[name]
        with self.lock_for(instance_id):
            try:
                fn()
                inst.vm_state = state
            except drv.DriverError as exc:
                self.fault(inst, exc)
                if name != "os-stop":
                    log.warning("%s on %s failed: %s", name, instance_id, exc)
                else:
                    inst.vm_state = "error"
            inst.task_state = None
            inst.power_state = self.driver.power_state(dom)
            inst.save()

    @_db
    def do_reboot(self, instance_id: str, hard: bool) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.lock_for(instance_id):
            try:
                if inst.vm_state in ("paused", "suspended", "stopped", "error"):
                    hard = True
                self.driver.reboot(inst.domain_name, hard=hard, timeout=self.shutdown_timeout)
                inst.vm_state = "active"
            except drv.DriverError as exc:
                self.fault(inst, exc)
                inst.vm_state = "error"
            inst.task_state = None
            inst.power_state = self.driver.power_state(inst.domain_name)
            inst.save()

    @_db
    def do_resize(self, instance_id: str, new_flavor: dict) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.lock_for(instance_id):
            try:
                self._redefine(inst, new_flavor, old=inst.flavor)
                inst.vm_state, inst.task_state = "resized", None
            except Exception as exc:
                self.fault(inst, exc)
                inst.task_state = None
            inst.power_state = self.driver.power_state(inst.domain_name)
            inst.save()

    @_db
    def do_revert_resize(self, instance_id: str) -> None:
        inst = Instance.get_by_id(instance_id)
        with self.lock_for(instance_id):
            old = inst.old_flavor
            self._redefine(inst, old, old=None)
            inst.vm_state, inst.task_state = "active", None
            inst.power_state = self.driver.power_state(inst.domain_name)
            inst.save()

    def _redefine(self, inst, flavor: dict, old) -> None:
        """Resize on one host: same disks, new vCPUs/RAM (and a bigger root disk if the flavor says)."""
        running = self.driver.power_state(inst.domain_name) == drv.RUNNING
        tree_xml = self.driver.xml(inst.domain_name)
        self.driver.destroy(inst.domain_name)
        overlay = self.instance_dir(inst) / "disk"
        if overlay.exists() and int(flavor.get("disk") or 0) > int(inst.flavor.get("disk") or 0):
            _qemu_img(["resize", "-q", "-f", "qcow2", str(overlay), f"{int(flavor['disk'])}G"],
                      readable=_backing(self.instances_dir, inst), writable=[overlay])
        spec = _spec_from_xml(tree_xml, inst, flavor)
        if running:
            self.driver.spawn(spec)
        else:
            self.driver.define(spec)
        inst.old_flavor = old
        inst.flavor = flavor

    # -- snapshot -----------------------------------------------------------------------------------------
    def start_snapshot(self, inst, args, token) -> dict:
        from appliance.errors import BadRequest
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
        self.submit(self.do_snapshot, inst.id, image["id"])
        return image

    @_db
    def do_snapshot(self, instance_id: str, image_id: str) -> None:
        inst = Instance.get_by_id(instance_id)
        out = self.instance_dir(inst) / f"snapshot-{image_id}.qcow2"
        try:
            with self.lock_for(instance_id):
                paused = self.driver.power_state(inst.domain_name) == drv.RUNNING
                if paused:
                    self.driver.pause(inst.domain_name)  # a consistent copy without a live block job
                try:
                    _qemu_img(["convert", "-U", "-f", "qcow2", "-O", "qcow2", str(self.instance_dir(inst) / "disk"),
                               str(out)], readable=[self.instance_dir(inst) / "disk",
                                                    *_backing(self.instances_dir, inst)], writable=[out], new=out)
                finally:
                    if paused:
                        self.driver.unpause(inst.domain_name)
            # the image this server's user created just now (start_snapshot); the service uploads it, so that a
            # long copy does not outlive the user's token
            self.image.upload(image_id, str(out), None)
        except Exception as exc:
            log.warning("snapshot of %s failed: %s", instance_id, exc)
        finally:
            out.unlink(missing_ok=True)
            inst = Instance.get_by_id(instance_id)
            inst.task_state = None
            inst.save()

    # -- reconcile and power sync ---------------------------------------------------------------------------
    @_db
    def reconcile(self) -> dict:
        """Compare libvirt with the database after a (re)start and repair each difference."""
        report = {"ghost_domains": [], "failed_builds": [], "finished_deletes": [], "reset_tasks": []}
        live = {i.domain_name: i for i in Instance.select().where(Instance.deleted == False)}  # noqa: E712
        for name in self.driver.list_domains():
            if name not in live:
                self.driver.destroy(name)
                report["ghost_domains"].append(name)
        for inst in live.values():
            if inst.task_state == "deleting":
                self.delete_instance(inst.id)
                report["finished_deletes"].append(inst.id)
            elif inst.vm_state == "building":
                self._teardown(inst, keep_volumes=True)
                inst = Instance.get_by_id(inst.id)
                self.fault(inst, "Build interrupted: the compute service restarted during the build.")
                inst.vm_state, inst.task_state, inst.power_state = "error", None, drv.NOSTATE
                inst.save()
                report["failed_builds"].append(inst.id)
            elif inst.task_state is not None:
                inst.task_state = None
                inst.save()
                report["reset_tasks"].append(inst.id)
        for inst in Instance.select().where(Instance.deleted == True):  # noqa: E712
            if inst.ports:
                self._teardown(inst)
        self.sync_power_states()
        return report

    @_db
    def sync_power_states(self) -> int:
        changed = 0
        query = Instance.select().where((Instance.deleted == False) & (Instance.task_state.is_null())  # noqa
                                        & (Instance.vm_state.in_(["active", "stopped", "paused", "suspended"])))
        for inst in query:
            state = self.driver.power_state(inst.domain_name)
            if state == inst.power_state:
                continue
            inst.power_state = state
            if inst.vm_state == "active" and state in (drv.SHUTDOWN, drv.CRASHED):
                inst.vm_state = "stopped"  # the guest powered itself off, as Nova's sync records it
            elif inst.vm_state == "stopped" and state == drv.RUNNING:
                inst.vm_state = "active"
            inst.save()
            changed += 1
        return changed

    def start_background(self, interval: float) -> threading.Thread:
        def loop():
            while True:
                time.sleep(interval)
                try:
                    self.sync_power_states()
                except Exception:
                    log.exception("power-state sync failed")
        t = threading.Thread(target=loop, name="compute-power-sync", daemon=True)
        t.start()
        return t


def _qemu_img(args, readable=(), writable=(), new=None) -> str:
    """qemu-img in the bubblewrap sandbox (appliance.diskimage): it sees only these files, never the keys.
    `new`: an output file, made empty first (the sandbox binds it) and removed again if qemu-img fails."""
    if new is not None:
        Path(new).touch(mode=0o644)
    try:
        return diskimage.run_qemu_img(args, readable=readable, writable=writable)
    except diskimage.QemuImgError as exc:
        if new is not None:
            Path(new).unlink(missing_ok=True)
        raise BuildError(str(exc)[:400]) from None


def _inspect_base(image_id, path, fmt) -> None:
    """The cached image, checked by oslo.utils' inspector before an overlay (and so qemu and libvirt) opens it."""
    try:
        diskimage.inspect(path, fmt)
    except diskimage.UnsafeImage as exc:
        raise BuildError(f"Image {image_id} is unacceptable: {exc}") from None


def _backing(instances_dir, inst) -> list:
    """The cached base under a server's overlay: the only other file qemu-img may open through it."""
    base = Path(instances_dir) / "_base" / str(inst.image_ref or "")
    return [base] if inst.image_ref and base.exists() else []


def _virtual_size(path, fmt) -> int:
    import json
    try:
        out = _qemu_img(["info", "-U", "--output=json", "-f", fmt, str(path)], readable=[path])
        return int(json.loads(out)["virtual-size"])
    except (BuildError, ValueError, KeyError):
        return 0


def _spec_from_xml(xml_text: str, inst, flavor: dict) -> drv.GuestSpec:
    """Rebuild a GuestSpec from the live definition, for a resize that keeps disks and NICs."""
    import xml.etree.ElementTree as ET
    tree = ET.fromstring(xml_text)
    disks, vifs = [], []
    for d in tree.findall("./devices/disk"):
        src = d.find("source")
        disks.append(drv.DiskSpec(path=src.get("file") or src.get("dev"), target=d.find("target").get("dev"),
                                  format=d.find("driver").get("type"), bus=d.find("target").get("bus"),
                                  device=d.get("device"), source_type=d.get("type"),
                                  readonly=d.find("readonly") is not None,
                                  serial=d.findtext("serial")))
    for i in tree.findall("./devices/interface"):
        vifs.append(drv.VifSpec(bridge=i.find("source").get("bridge"), tap=i.find("target").get("dev"),
                                mac=i.find("mac").get("address")))
    log_el = tree.find("./devices/serial/log")
    return drv.GuestSpec(name=inst.domain_name, uuid=inst.id, vcpus=int(flavor["vcpus"]),
                         memory_mb=int(flavor["ram"]), disks=disks, vifs=vifs,
                         kernel=tree.findtext("./os/kernel"), initrd=tree.findtext("./os/initrd"),
                         cmdline=tree.findtext("./os/cmdline"),
                         console_log=log_el.get("file") if log_el is not None else "",
                         extra_specs=dict(flavor.get("extra_specs") or {}),
                         metadata={"project": inst.project_id, "server": inst.name})
