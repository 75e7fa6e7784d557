"""In-memory compute driver with the libvirt driver's contract (same XML model, same power states)."""
from __future__ import annotations

import dataclasses
import threading
import xml.etree.ElementTree as ET

from services.compute.drivers import base
from services.compute.drivers.libvirt.xml import disk_element, secret_usage, to_string, vif_element
from services.compute.drivers.specs import placement_of


class FakeDriver(base.ComputeDriver):
    """Domains are dicts; starting one writes the guest's boot marker to its console log, as the tiny guest does."""

    def __init__(self, prefix: str = "egret-", caps: base.HostCaps | None = None, instances_dir=None):
        # the node's files are real (qemu-img, ISO tools), as the libvirt driver's: one implementation in base
        super().__init__(instances_dir)
        self.prefix = prefix
        self.caps = caps or base.HostCaps(domain_type="fake", domain_type_reason="fake driver", hostname="fake-host",
                                          cpus=64, memory_mb=262144, numa_nodes=2)
        self.domains: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.fail_spawn: str | None = None   # tests set this to make the next spawn fail
        # libvirt's secrets as the libvirt driver keeps them: usage -> CHAP password of a network disk's target
        self.secrets: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings):
        section = settings.section("compute")
        caps = base.HostCaps(domain_type="fake", domain_type_reason="fake driver", hostname="fake-host",
                             cpus=64, memory_mb=262144, numa_nodes=2, placement=placement_of(section))
        return cls(section.get("domain_prefix", "egret-"), caps, base.instances_dir(settings))

    def host_caps(self) -> base.HostCaps:
        if not self.caps.disk_gb:   # as libvirt's: the file system its instances live on, unless the caps say
            self.caps = dataclasses.replace(self.caps, disk_gb=self.files.disk_gb())
        return self.caps

    def cached_caps(self):
        return self.caps

    def _dom(self, name):
        try:
            return self.domains[name]
        except KeyError:
            raise base.NotFound(f"domain {name} not found") from None

    def _keep_secrets(self, disks) -> None:
        for disk in disks:
            if disk.source_type == "network" and disk.auth_username and disk.auth_password is not None:
                self.secrets[secret_usage(disk)] = disk.auth_password

    def _drop_secrets(self, disks) -> None:
        """The secrets these <disk> elements use go with them."""
        for disk in disks:
            for el in disk.iterfind("./source/auth/secret"):
                self.secrets.pop(el.get("usage"), None)

    def define(self, spec: base.GuestSpec) -> None:
        xml = self.domain_xml_for(spec)
        self._keep_secrets(spec.disks)
        with self.lock:
            self.domains[spec.name] = {"xml": xml, "state": base.SHUTDOWN, "log": spec.console_log,
                                       "saved": False}

    def _boot(self, dom):
        dom["state"] = base.RUNNING
        if dom["log"]:
            with open(dom["log"], "a") as fh:
                fh.write("EGRET-GUEST-BOOTED (fake driver)\n")

    def spawn(self, spec: base.GuestSpec) -> None:
        if self.fail_spawn:
            message, self.fail_spawn = self.fail_spawn, None
            raise base.DriverError(message)
        self.define(spec)
        self._boot(self.domains[spec.name])

    def destroy(self, name: str) -> None:
        with self.lock:
            dom = self.domains.pop(name, None)
        if dom is not None:
            self._drop_secrets(ET.fromstring(dom["xml"]).iterfind("./devices/disk"))

    def power_off(self, name: str, timeout: float = 0) -> None:
        self._dom(name)["state"] = base.SHUTDOWN

    def power_on(self, name: str) -> None:
        dom = self._dom(name)
        if dom["state"] == base.SHUTDOWN:
            self._boot(dom)

    def reboot(self, name: str, hard: bool = False, timeout: float = 0) -> None:
        dom = self._dom(name)
        if dom["state"] == base.SHUTDOWN and not hard:
            raise base.DriverError("Requested operation is not valid: domain is not running")
        self._boot(dom)

    def pause(self, name: str) -> None:
        dom = self._dom(name)
        if dom["state"] != base.RUNNING:
            raise base.DriverError("Requested operation is not valid: domain is not running")
        dom["state"] = base.PAUSED

    def unpause(self, name: str) -> None:
        dom = self._dom(name)
        if dom["state"] != base.PAUSED:
            raise base.DriverError("Requested operation is not valid: domain is not paused")
        dom["state"] = base.RUNNING

    def suspend(self, name: str) -> None:
        dom = self._dom(name)
        if dom["state"] != base.RUNNING:
            raise base.DriverError("Requested operation is not valid: domain is not running")
        dom["state"], dom["saved"] = base.SHUTDOWN, True

    def resume(self, name: str) -> None:
        dom = self._dom(name)
        if not dom["saved"]:
            # libvirt starts a domain from its managed save; a running one cannot be started again
            raise base.DriverError("Requested operation is not valid: domain is already running")
        dom["state"], dom["saved"] = base.RUNNING, False

    def power_state(self, name: str) -> int:
        dom = self.domains.get(name)
        if dom is None:
            return base.NOSTATE
        if dom["saved"]:
            return base.SUSPENDED
        return dom["state"]

    def list_domains(self) -> list[str]:
        return sorted(n for n in self.domains if n.startswith(self.prefix))

    def xml(self, name: str, inactive: bool = False) -> str:
        return self._dom(name)["xml"]   # a fake guest lets go of an unplugged device at once

    def _edit(self, name, fn):
        dom = self._dom(name)
        tree = ET.fromstring(dom["xml"])
        fn(tree.find("devices"))
        dom["xml"] = to_string(tree)

    def attach_disk(self, name: str, disk: base.DiskSpec) -> None:
        def add(devices):
            for el in devices.findall("disk"):
                if el.find("target").get("dev") == disk.target:
                    raise base.DriverError(f"target {disk.target} already exists")
            devices.append(disk_element(disk))
        self._edit(name, add)
        self._keep_secrets([disk])

    def detach_disk(self, name: str, target: str) -> None:
        def remove(devices):
            for el in devices.findall("disk"):
                if el.find("target").get("dev") == target:
                    devices.remove(el)
                    gone.append(el)
                    return
            raise base.NotFound(f"disk {target} not attached to {name}")
        gone: list = []
        self._edit(name, remove)
        self._drop_secrets(gone)

    def attach_vif(self, name: str, vif: base.VifSpec) -> None:
        self._edit(name, lambda devices: devices.append(vif_element(vif)))

    def detach_vif(self, name: str, vif: base.VifSpec) -> None:
        def remove(devices):
            for el in devices.findall("interface"):
                if el.find("mac").get("address") == vif.mac:
                    devices.remove(el)
                    return
            raise base.NotFound(f"interface {vif.mac} not attached to {name}")
        self._edit(name, remove)
