"""Host facts for the libvirt driver: KVM-or-TCG detection, CPUs, SMT threads, memory, NUMA nodes, huge pages."""
from __future__ import annotations

import glob
import logging
import os
import socket
import xml.etree.ElementTree as ET

from appliance.realtime import parse_cpulist
from services.compute.drivers.specs import HostCaps, placement_of

log = logging.getLogger(__name__)


def detect_domain_type(conn, requested: str = "auto") -> tuple[str, str]:
    """('kvm'|'qemu', why). 'auto' picks kvm only where hardware virtualization really runs stock guests."""
    if requested in ("kvm", "qemu"):
        return requested, f"forced by compute.domain_type={requested}"
    if not os.path.exists("/dev/kvm"):
        return "qemu", "no /dev/kvm"
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    # kvm_pvm (nested software virtualization) offers /dev/kvm without vmx/svm and runs only PVM guest
    # kernels; a stock guest hangs there, so such a /dev/kvm does not count
    if " vmx" not in flags and " svm" not in flags:
        return "qemu", "/dev/kvm present but the CPU has no vmx/svm (kvm_pvm): using TCG"
    try:
        conn.getDomainCapabilities(None, "x86_64", None, "kvm", 0)
    except Exception as exc:  # libvirt says KVM is not usable
        return "qemu", f"libvirt refuses kvm: {exc}"
    return "kvm", "hardware virtualization available"


def thread_siblings(capabilities_xml: str) -> list[list[int]]:
    """Each SMT core's threads from libvirt's host capabilities (<cpu id='0' siblings='0,4'/>); cores of one
    thread are left out."""
    cores = set()
    for cpu in ET.fromstring(capabilities_xml).iterfind("host/topology/cells/cell/cpus/cpu"):
        siblings = tuple(parse_cpulist(cpu.get("siblings") or cpu.get("id") or ""))
        if len(siblings) > 1:
            cores.add(siblings)
    return [list(c) for c in sorted(cores)]


def host_caps(conn, section: dict) -> HostCaps:
    domain_type, reason = detect_domain_type(conn, section.get("domain_type", "auto"))
    info = conn.getInfo()  # [model, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
    hugepages = {}
    for path in glob.glob("/sys/kernel/mm/hugepages/hugepages-*kB"):
        size = int(os.path.basename(path)[len("hugepages-"):-2])
        try:
            free = int(open(os.path.join(path, "free_hugepages")).read())
        except OSError:
            free = 0
        if free:
            hugepages[size] = free
    nodes = len(glob.glob("/sys/devices/system/node/node[0-9]*")) or max(1, int(info[4]))
    log.info("libvirt domain type %s (%s)", domain_type, reason)
    return HostCaps(domain_type=domain_type, domain_type_reason=reason, hostname=socket.gethostname(),
                    cpus=int(info[2]), memory_mb=int(info[1]), numa_nodes=nodes,
                    dedicated_cpus=parse_cpulist(section.get("cpu_dedicated_set", "")),
                    thread_siblings=thread_siblings(conn.getCapabilities()),
                    hugepages=hugepages, hypervisor_version=conn.getVersion(), placement=placement_of(section))
