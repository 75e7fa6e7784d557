"""Domain XML model: GuestSpec + HostCaps -> libvirt XML, with the flavor extra specs checked and applied."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from services.compute.drivers.base import DiskSpec, GuestSpec, HostCaps, UnsupportedSpec, VifSpec

NS = "https://egret.dev/xmlns/compute/1"


def _parse_page_size(value: str) -> int | str:
    """hw:mem_page_size: small | large | any | <n>[KB|MB|GB] (KiB by default) -> KiB or the keyword."""
    text = str(value).strip().lower()
    if text in ("small", "large", "any"):
        return text
    units = {"kb": 1, "k": 1, "kib": 1, "mb": 1024, "m": 1024, "mib": 1024, "gb": 1 << 20, "g": 1 << 20,
             "gib": 1 << 20}
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix) and text[:-len(suffix)].isdigit():
            return int(text[:-len(suffix)]) * units[suffix]
    if text.isdigit():
        return int(text)
    raise UnsupportedSpec(f"Invalid hw:mem_page_size {value!r}: use small, large, any or a size such as 2MB.")


def _parse_mask(mask: str, vcpus: int) -> set[int]:
    """hw:cpu_realtime_mask like '^0' or '0-1,^1': the vCPUs that are real-time."""
    include, exclude = set(), set()
    for part in str(mask).split(","):
        part = part.strip()
        if not part:
            continue
        neg = part.startswith("^")
        part = part.lstrip("^")
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                ids = set(range(lo, hi + 1))
            else:
                ids = {int(part)}
        except ValueError:
            raise UnsupportedSpec(f"Invalid hw:cpu_realtime_mask {mask!r}.") from None
        (exclude if neg else include).update(ids)
    base = include or set(range(vcpus))
    rt = {v for v in base - exclude if v < vcpus}
    if not rt:
        raise UnsupportedSpec(f"hw:cpu_realtime_mask {mask!r} leaves no real-time vCPU.")
    if rt == set(range(vcpus)):
        raise UnsupportedSpec("hw:cpu_realtime_mask must leave at least one vCPU for housekeeping (e.g. '^0').")
    return rt


def _true(value) -> bool:
    return str(value).strip().lower() in ("true", "yes", "1", "on")


def plan(extra_specs: dict, vcpus: int, memory_mb: int, host: HostCaps) -> dict:
    """Check the extra specs against the host; return what the XML needs (pins, page size, rt vcpus, cells)."""
    specs = extra_specs or {}
    out = {"pins": None, "page_kib": None, "rt_vcpus": None, "cells": None}
    policy = specs.get("hw:cpu_policy", "shared")
    if policy not in ("shared", "dedicated", "mixed"):
        raise UnsupportedSpec(f"Invalid hw:cpu_policy {policy!r}: use shared or dedicated.")
    if policy in ("dedicated", "mixed"):
        if not host.dedicated_cpus:
            raise UnsupportedSpec("hw:cpu_policy=dedicated needs pinned CPUs, and this host has no "
                                  "cpu_dedicated_set configured.")
        if vcpus > len(host.dedicated_cpus):
            raise UnsupportedSpec(f"hw:cpu_policy=dedicated asks for {vcpus} pinned CPUs; the host has "
                                  f"{len(host.dedicated_cpus)} in its cpu_dedicated_set.")
        out["pins"] = {v: host.dedicated_cpus[v] for v in range(vcpus)}
    if "hw:mem_page_size" in specs:
        size = _parse_page_size(specs["hw:mem_page_size"])
        if size != "small" and size != 4:
            free = {k: n for k, n in host.hugepages.items() if int(k) > 4}
            if size in ("large", "any"):
                candidates = sorted(free, key=int)
            else:
                candidates = [k for k in free if int(k) == size]
            fits = [k for k in candidates if int(free[k]) * int(k) >= memory_mb * 1024]
            if not fits:
                if size == "any":
                    fits = [None]
                else:
                    have = ", ".join(f"{n} free of {k} KiB" for k, n in sorted(host.hugepages.items())) or "none"
                    raise UnsupportedSpec(f"hw:mem_page_size={specs['hw:mem_page_size']} needs {memory_mb} MiB "
                                          f"of huge pages; the host has {have}.")
            out["page_kib"] = int(fits[0]) if fits[0] is not None else None
    if _true(specs.get("hw:cpu_realtime", "false")):
        if policy != "dedicated":
            raise UnsupportedSpec("hw:cpu_realtime=yes requires hw:cpu_policy=dedicated.")
        out["rt_vcpus"] = sorted(_parse_mask(specs.get("hw:cpu_realtime_mask", "^0"), vcpus))
    if "hw:numa_nodes" in specs:
        try:
            nodes = int(specs["hw:numa_nodes"])
        except ValueError:
            raise UnsupportedSpec(f"Invalid hw:numa_nodes {specs['hw:numa_nodes']!r}.") from None
        if nodes < 1 or nodes > vcpus:
            raise UnsupportedSpec(f"hw:numa_nodes={nodes} must be between 1 and the flavor's {vcpus} vCPUs.")
        if nodes > host.numa_nodes:
            raise UnsupportedSpec(f"hw:numa_nodes={nodes} exceeds the host's {host.numa_nodes} NUMA node(s).")
        if memory_mb % nodes:
            raise UnsupportedSpec(f"The flavor's {memory_mb} MiB cannot be split evenly over {nodes} NUMA nodes.")
        cells = []
        for n in range(nodes):
            ids = [v for v in range(vcpus) if v % nodes == n]
            cells.append({"id": n, "cpus": ",".join(map(str, ids)), "memory_mb": memory_mb // nodes})
        out["cells"] = cells
    return out


def check_extra_specs(extra_specs: dict, vcpus: int, memory_mb: int, host: HostCaps) -> None:
    plan(extra_specs, vcpus, memory_mb, host)


def _sub(parent, tag, text=None, **attrs):
    el = ET.SubElement(parent, tag, {k.rstrip("_"): str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def disk_element(disk: DiskSpec) -> ET.Element:
    el = ET.Element("disk", {"type": disk.source_type, "device": disk.device})
    _sub(el, "driver", name="qemu", type=disk.format)
    if disk.source_type == "block":
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
    el = ET.Element("interface", {"type": "bridge"})
    _sub(el, "source", bridge=vif.bridge)
    _sub(el, "target", dev=vif.tap)
    _sub(el, "mac", address=vif.mac)
    _sub(el, "model", type="virtio")
    return el


def to_string(el: ET.Element) -> str:
    ET.indent(el)
    return ET.tostring(el, encoding="unicode")


def domain_xml(spec: GuestSpec, host: HostCaps) -> str:
    p = plan(spec.extra_specs, spec.vcpus, spec.memory_mb, host)
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
        if p["pins"]:
            _sub(tune, "emulatorpin", cpuset=",".join(str(c) for c in sorted(set(p["pins"].values()))))
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
