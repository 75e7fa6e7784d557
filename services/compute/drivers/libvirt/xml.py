"""Domain XML model: GuestSpec + HostCaps -> libvirt XML, with the flavor extra specs checked and applied."""
from __future__ import annotations

import xml.etree.ElementTree as ET

# plan and check_extra_specs are imported from here by older callers; the planner lives in drivers/hardware.py
from services.compute.drivers.hardware import check_extra_specs, plan  # noqa: F401
from services.compute.drivers.specs import DiskSpec, GuestSpec, HostCaps, VifSpec

NS = "https://egret.dev/xmlns/compute/1"


def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


SECRET_PREFIX = "egret-"   # the usage of the libvirt secrets this driver defines: "egret-<target iqn>"


def secret_usage(disk: DiskSpec) -> str:
    """The usage name of the libvirt secret holding a network disk's CHAP password: one per target."""
    return SECRET_PREFIX + disk.path.rsplit("/", 1)[0]


def split_portal(portal: str) -> tuple[str, str]:
    """"host:port" or "[v6]:port" -> (host, port), as libvirt's <host name port> takes them."""
    host, _, port = portal.rpartition(":")
    return host.strip("[]"), port


def join_portal(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _network_source(el: ET.Element, disk: DiskSpec) -> None:
    src = _sub(el, "source", protocol=disk.protocol, name=disk.path)
    host, port = split_portal(disk.portal)
    _sub(src, "host", name=host, port=port)
    if disk.initiator:
        _sub(_sub(src, "initiator"), "iqn", name=disk.initiator)
    if disk.auth_username:
        # the password stays in the libvirt secret of this usage (the driver defines it): never in the XML
        auth = _sub(src, "auth", username=disk.auth_username)
        _sub(auth, "secret", type=disk.protocol, usage=secret_usage(disk))


def disk_element(disk: DiskSpec) -> ET.Element:
    el = ET.Element("disk", {"type": disk.source_type, "device": disk.device})
    _sub(el, "driver", name="qemu", type=disk.format)
    if disk.source_type == "network":
        _network_source(el, disk)
    elif disk.source_type == "block":
        _sub(el, "source", dev=disk.path)
    else:
        _sub(el, "source", file=disk.path)
    _sub(el, "target", dev=disk.target, bus=disk.bus)
    if disk.readonly or disk.device == "cdrom":
        _sub(el, "readonly")
    if disk.serial:
        _sub(el, "serial", disk.serial[:20])
    return el


def vif_element(vif: VifSpec) -> ET.Element:
    if vif.kind == "hostdev":
        # an SR-IOV VF given whole to the guest, as Nova's get_config_hw_veb writes it (libvirt sets MAC and VLAN)
        el = ET.Element("interface", {"type": "hostdev", "managed": "yes"})
        _sub(el, "mac", address=vif.mac)
        _sub(_sub(el, "source"), "address", type="pci", **vif.pci_parts())
        if vif.vlan:
            _sub(_sub(el, "vlan"), "tag", id=vif.vlan)
        return el
    if vif.kind == "direct":
        # macvtap on the VF's netdev (Nova's get_config_macvtap / hw_veb with vnic_type macvtap)
        el = ET.Element("interface", {"type": "direct"})
        _sub(el, "mac", address=vif.mac)
        _sub(el, "source", dev=vif.source_dev, mode=vif.mode)
        _sub(el, "model", type="virtio")
        return el
    el = ET.Element("interface", {"type": "bridge"})
    _sub(el, "source", bridge=vif.bridge)
    _sub(el, "target", dev=vif.tap)
    _sub(el, "mac", address=vif.mac)
    _sub(el, "model", type="virtio")
    return el


def vif_from_xml(el: ET.Element) -> VifSpec:
    """The VifSpec of an <interface> of a definition (ours, or libvirt's reading of it): what a resize redefines."""
    kind = el.get("type")
    mac = el.find("mac").get("address")
    src = el.find("source")
    if kind == "hostdev":
        addr = src.find("address")
        parts = [addr.get(k, "0").lower().removeprefix("0x") for k in ("domain", "bus", "slot", "function")]
        tag = el.find("vlan/tag")
        return VifSpec(kind="hostdev", mac=mac, pci_address=f"{parts[0]:0>4}:{parts[1]:0>2}:{parts[2]:0>2}.{parts[3]}",
                       vlan=int(tag.get("id")) if tag is not None else None)
    if kind == "direct":
        return VifSpec(kind="direct", mac=mac, source_dev=src.get("dev"), mode=src.get("mode") or "vepa")
    target = el.find("target")
    return VifSpec(bridge=src.get("bridge"), tap=target.get("dev") if target is not None else "", mac=mac)


def to_string(el: ET.Element) -> str:
    ET.indent(el)
    return ET.tostring(el, encoding="unicode")


def domain_xml(spec: GuestSpec, host: HostCaps) -> str:
    p = plan(spec.extra_specs, spec.vcpus, spec.memory_mb, host, spec.cpuset, spec.page_kib)
    dom = ET.Element("domain", {"type": host.domain_type})
    _sub(dom, "name", spec.name)
    _sub(dom, "uuid", spec.uuid)
    meta = _sub(dom, "metadata")
    inst = ET.SubElement(meta, f"{{{NS}}}instance")
    for key, value in sorted(spec.metadata.items()):
        ET.SubElement(inst, f"{{{NS}}}{key}").text = str(value)
    _sub(dom, "memory", spec.memory_mb, unit="MiB")
    _sub(dom, "vcpu", spec.vcpus, placement="static")
    if p["pins"] or p["rt_vcpus"]:
        tune = _sub(dom, "cputune")
        for v, pcpu in (p["pins"] or {}).items():
            _sub(tune, "vcpupin", vcpu=v, cpuset=pcpu)
        if p["emulator_cpus"]:
            _sub(tune, "emulatorpin", cpuset=",".join(str(c) for c in p["emulator_cpus"]))
        if p["rt_vcpus"]:
            _sub(tune, "vcpusched", vcpus=",".join(map(str, p["rt_vcpus"])), scheduler="fifo", priority=1)
    if p["page_kib"]:
        backing = _sub(dom, "memoryBacking")
        _sub(_sub(backing, "hugepages"), "page", size=p["page_kib"], unit="KiB")
    if p["rt_vcpus"]:
        backing = dom.find("memoryBacking")
        if backing is None:
            backing = _sub(dom, "memoryBacking")
        _sub(backing, "nosharepages")
        _sub(backing, "locked")
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch=host.arch, machine="q35")
    if spec.kernel:
        _sub(os_el, "kernel", spec.kernel)
        if spec.initrd:
            _sub(os_el, "initrd", spec.initrd)
        _sub(os_el, "cmdline", spec.cmdline or "console=ttyS0")
    else:
        _sub(os_el, "boot", dev="hd")
    # SMBIOS as Nova writes it: cloud-init's ds-identify only considers the OpenStack datasource on x86
    # when the product name says "OpenStack Nova", and guests read their instance id from the serial/uuid
    _sub(os_el, "smbios", mode="sysinfo")
    sysinfo = _sub(dom, "sysinfo", type="smbios")
    system = _sub(sysinfo, "system")
    for name, value in (("manufacturer", "OpenStack Foundation"), ("product", "OpenStack Nova"),
                        ("serial", spec.uuid), ("uuid", spec.uuid), ("family", "Virtual Machine")):
        _sub(system, "entry", value, name=name)
    feats = _sub(dom, "features")
    _sub(feats, "acpi")
    _sub(feats, "apic")
    if p["cells"]:
        cpu = _sub(dom, "cpu")
        numa = _sub(cpu, "numa")
        for cell in p["cells"]:
            attrs = {"id": cell["id"], "cpus": cell["cpus"], "memory": cell["memory_mb"], "unit": "MiB"}
            if p["page_kib"]:
                attrs["memAccess"] = "shared"
            _sub(numa, "cell", **attrs)
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    for disk in spec.disks:
        devices.append(disk_element(disk))
    # spare PCIe root ports so volumes and interfaces can be hot-plugged on q35 (Nova's num_pcie_ports)
    _sub(devices, "controller", type="pci", index=0, model="pcie-root")
    for index in range(1, 9):
        _sub(devices, "controller", type="pci", index=index, model="pcie-root-port")
    for vif in spec.vifs:
        devices.append(vif_element(vif))
    # a pty serial port whose output virtlogd also writes to the console log file
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=spec.console_log, append="on")
    _sub(serial, "target", port=0)
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port=0)
    _sub(devices, "memballoon", model="none")
    ET.register_namespace("egret", NS)
    return to_string(dom)
