"""The libvirt compute driver: guests as libvirt domains on qemu:///system (KVM, or QEMU/TCG)."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
import xml.etree.ElementTree as ET

import libvirt

from appliance import realtime
from appliance.libvirtd import ensure_libvirtd
from services.compute.drivers import base
from services.compute.drivers.libvirt import host as hostmod
from services.compute.drivers.libvirt import secrets
from services.compute.drivers.libvirt.xml import disk_element, to_string, vif_element

log = logging.getLogger(__name__)

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: base.NOSTATE, libvirt.VIR_DOMAIN_RUNNING: base.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: base.RUNNING, libvirt.VIR_DOMAIN_PAUSED: base.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: base.SHUTDOWN, libvirt.VIR_DOMAIN_SHUTOFF: base.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: base.CRASHED, libvirt.VIR_DOMAIN_PMSUSPENDED: base.SUSPENDED,
}


def _quiet(ctx, err):
    # libvirt prints every error to stderr by default; we raise them as exceptions instead
    pass


class LibvirtDriver(base.ComputeDriver):
    def __init__(self, uri: str = "qemu:///system", prefix: str = "egret-", section: dict | None = None,
                 start_daemon: bool = True, instances_dir=None):
        super().__init__(instances_dir)
        self.uri = uri
        self.prefix = prefix
        self.section = dict(section or {})
        self.start_daemon = start_daemon
        self._conn = None
        self._caps = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings):
        section = settings.section("compute")
        prof = realtime.profile(settings)
        if prof["enabled"] and not section.get("cpu_dedicated_set"):
            # the real-time profile's isolated CPUs are the ones pinned guests get
            section["cpu_dedicated_set"] = prof["isolated_cpus"]
        return cls(section.get("libvirt_uri", "qemu:///system"), section.get("domain_prefix", "egret-"), section,
                   instances_dir=base.instances_dir(settings))

    @property
    def conn(self):
        with self._lock:
            if self._conn is None or not self._conn.isAlive():
                if self.start_daemon and self.uri.startswith("qemu:///system"):
                    ensure_libvirtd()
                libvirt.registerErrorHandler(_quiet, None)
                self._conn = libvirt.open(self.uri)
            return self._conn

    def host_caps(self) -> base.HostCaps:
        if self._caps is None:
            caps = hostmod.host_caps(self.conn, self.section)
            self._caps = dataclasses.replace(caps, disk_gb=caps.disk_gb or self.files.disk_gb())
        return self._caps

    def cached_caps(self):
        return self._caps

    def refresh_caps(self) -> base.HostCaps:
        self._caps = None
        return self.host_caps()

    def _dom(self, name: str):
        try:
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise base.NotFound(f"domain {name} not found") from None
            raise base.DriverError(str(exc)) from None

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except libvirt.libvirtError as exc:
            raise base.DriverError(exc.get_error_message() or str(exc)) from None

    def _define(self, spec: base.GuestSpec):
        """The domain defined, its network disks' secrets first (those defined here go again if libvirt refuses)."""
        xml = self.domain_xml_for(spec)
        created = secrets.ensure(self.conn, spec.disks)
        try:
            return self._call(self.conn.defineXML, xml)
        except base.DriverError:
            secrets.drop(self.conn, created)
            raise

    def define(self, spec: base.GuestSpec) -> None:
        self._define(spec)

    def spawn(self, spec: base.GuestSpec) -> None:
        dom = self._define(spec)
        try:
            self._call(dom.create)
        except base.DriverError:
            self.destroy(spec.name)
            raise

    def _secret_usages(self, dom) -> set[str]:
        """The secrets a domain's network disks use, as it runs and as it is defined."""
        found = set()
        for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):
            try:
                found |= secrets.usages(dom.XMLDesc(flags))
            except libvirt.libvirtError:
                pass
        return found

    def destroy(self, name: str) -> None:
        try:
            dom = self._dom(name)
        except base.NotFound:
            return
        used = self._secret_usages(dom)
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise base.DriverError(str(exc)) from None
        flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise base.DriverError(str(exc)) from None
        secrets.drop(self.conn, used)

    def power_off(self, name: str, timeout: float = 0) -> None:
        dom = self._dom(name)
        if not dom.isActive():
            return
        if timeout > 0:
            try:
                dom.shutdown()
            except libvirt.libvirtError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not dom.isActive():
                    return
                time.sleep(0.25)
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if dom.isActive():
                raise base.DriverError(str(exc)) from None

    def power_on(self, name: str) -> None:
        dom = self._dom(name)
        if not dom.isActive():
            self._call(dom.create)

    def reboot(self, name: str, hard: bool = False, timeout: float = 0) -> None:
        dom = self._dom(name)
        if hard or not dom.isActive():
            # a hard reboot is destroy + start from the persistent definition, as Nova's libvirt driver does
            if dom.isActive():
                self._call(dom.destroy)
            self._call(dom.create)
            return
        # soft: ask the guest (ACPI) to shut down, give it `timeout`, then start it again; guests that
        # ignore ACPI are destroyed at the timeout, which is Nova's fallback to a hard reboot
        self.power_off(name, timeout)
        self._call(dom.create)

    def pause(self, name: str) -> None:
        self._call(self._dom(name).suspend)

    def unpause(self, name: str) -> None:
        self._call(self._dom(name).resume)

    def suspend(self, name: str) -> None:
        self._call(self._dom(name).managedSave)

    def resume(self, name: str) -> None:
        self._call(self._dom(name).create)

    def power_state(self, name: str) -> int:
        try:
            state, _ = self._dom(name).state()
        except base.NotFound:
            return base.NOSTATE
        if state == libvirt.VIR_DOMAIN_SHUTOFF and self._dom(name).hasManagedSaveImage():
            return base.SUSPENDED
        return _STATES.get(state, base.NOSTATE)

    def list_domains(self) -> list[str]:
        return sorted(d.name() for d in self._call(self.conn.listAllDomains) if d.name().startswith(self.prefix))

    def xml(self, name: str, inactive: bool = False) -> str:
        return self._call(self._dom(name).XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)

    def _flags(self, dom):
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        return flags

    def attach_disk(self, name: str, disk: base.DiskSpec) -> None:
        dom = self._dom(name)
        created = secrets.ensure(self.conn, [disk])
        try:
            self._call(dom.attachDeviceFlags, to_string(disk_element(disk)), self._flags(dom))
        except base.DriverError:
            secrets.drop(self.conn, created)
            raise

    def detach_disk(self, name: str, target: str) -> None:
        dom = self._dom(name)
        tree = ET.fromstring(dom.XMLDesc(0))
        for el in tree.findall("./devices/disk"):
            t = el.find("target")
            if t is not None and t.get("dev") == target:
                self._call(dom.detachDeviceFlags, ET.tostring(el, encoding="unicode"), self._flags(dom))
                # QEMU logged in when the disk was attached: the secret is not needed to let it go
                secrets.drop(self.conn, secrets.disk_usages(el))
                return
        raise base.NotFound(f"disk {target} not attached to {name}")

    def attach_vif(self, name: str, vif: base.VifSpec) -> None:
        dom = self._dom(name)
        self._call(dom.attachDeviceFlags, to_string(vif_element(vif)), self._flags(dom))

    def detach_vif(self, name: str, vif: base.VifSpec) -> None:
        dom = self._dom(name)
        for el in ET.fromstring(dom.XMLDesc(0)).findall("./devices/interface"):
            mac = el.find("mac")
            if mac is not None and mac.get("address") == vif.mac:
                # the interface as the domain holds it (a bridge tap, a VF, a macvtap): libvirt matches its MAC
                self._call(dom.detachDeviceFlags, to_string(el), self._flags(dom))
                return
        # as detach_disk: the manager takes a NIC that is already gone as detached
        raise base.NotFound(f"interface {vif.mac} not attached to {name}")
