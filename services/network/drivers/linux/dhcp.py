"""dnsmasq per network inside its qdhcp namespace: host reservations, DNS names, options; SIGHUP on change."""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from services.network.drivers.base import DhcpSpec
from services.network.drivers.linux import metadata
from services.network.drivers.linux.daemons import pid_alive, write_if_changed

log = logging.getLogger("egret.network.linux")
METADATA_IP = "169.254.169.254"


def dhcp_ip(spec: DhcpSpec, version: int) -> str | None:
    for a in spec.iface.addresses:
        ip = a.split("/")[0]
        if ipaddress.ip_address(ip).version == version:
            return ip
    return None


def files_for(spec: DhcpSpec) -> dict[str, str]:
    hosts, addn, opts = {}, [], []
    for h in spec.hosts:
        entry = hosts.setdefault(h.mac, {"ips": [], "name": h.hostname})
        entry["ips"].append(f"[{h.ip}]" if ":" in h.ip else h.ip)
        addn.append(f"{h.ip}\t{h.hostname}.{spec.domain} {h.hostname}\n")
    host_lines = [f"{mac},{','.join(e['ips'])},{e['name']}\n" for mac, e in sorted(hosts.items())]
    my4 = dhcp_ip(spec, 4)
    for s in spec.subnets:
        tag = f"tag:subnet-{s.id}"
        if s.ip_version == 4:
            if s.gateway_ip:
                opts.append(f"{tag},option:router,{s.gateway_ip}\n")
            dns = s.dns_nameservers or ([my4] if my4 else [])
            if dns:
                opts.append(f"{tag},option:dns-server,{','.join(dns)}\n")
            # option 121 replaces option 3 in clients, so the default route goes in it too
            routes = [f"{METADATA_IP}/32,{my4}"] if (spec.metadata and my4) else []
            routes += [f"{r['destination']},{r['nexthop']}" for r in s.host_routes if ":" not in r["destination"]]
            if s.gateway_ip:
                routes.append(f"0.0.0.0/0,{s.gateway_ip}")
            if routes:
                opts.append(f"{tag},option:classless-static-route,{','.join(routes)}\n")
            opts.append(f"{tag},option:mtu,{s.mtu}\n")
            opts.append(f"{tag},option:domain-name,{spec.domain}\n")
        elif s.dns_nameservers:
            opts.append(f"{tag},option6:dns-server,{','.join('[' + d + ']' for d in s.dns_nameservers)}\n")
    return {"hosts": "".join(host_lines), "addn_hosts": "".join(sorted(addn)), "opts": "".join(opts)}


def command(spec: DhcpSpec, conf: Path) -> list[str]:
    cmd = ["dnsmasq", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--strict-order", "--bind-interfaces",
           f"--interface={spec.iface.inner}", "--except-interface=lo", f"--pid-file={conf / 'pid'}",
           f"--dhcp-hostsfile={conf / 'hosts'}", f"--addn-hosts={conf / 'addn_hosts'}",
           f"--dhcp-optsfile={conf / 'opts'}", f"--dhcp-leasefile={conf / 'leases'}", f"--domain={spec.domain}",
           "--dhcp-authoritative", "--dhcp-lease-max=16777216", f"--log-facility={conf / 'log'}",
           "--log-dhcp", "--user=root", "--group=root"]
    for s in spec.subnets:
        net = ipaddress.ip_network(s.cidr)
        if s.ip_version == 4:
            cmd.append(f"--dhcp-range=set:subnet-{s.id},{net.network_address},static,{net.netmask},86400s")
        else:
            cmd.append(f"--dhcp-range=set:subnet-{s.id},{net.network_address},static,{net.prefixlen},86400s")
    return cmd


def reserved_ips(hosts_text: str) -> set[str]:
    """Addresses of a dhcp-hostsfile (`mac,ip[,ip...],name` lines)."""
    return {field.strip("[]") for line in hosts_text.splitlines() for field in line.split(",")[1:-1]}


def _lease_lines(leases: Path) -> list[str]:
    return leases.read_text().splitlines(keepends=True) if leases.exists() else []


def leased_ips(leases: Path) -> set[str]:
    """Addresses in a dnsmasq lease file (field 3 in both its IPv4 and IPv6 line formats)."""
    return {line.split()[2] for line in _lease_lines(leases) if len(line.split()) >= 3}


def drop_leases(leases: Path, ips: set[str]) -> None:
    """Remove the leases of `ips` from a stopped dnsmasq's lease file.

    dnsmasq keeps a lease until it expires (a day) even when its reservation is gone, and refuses the address
    to any other MAC meanwhile: a port deleted and re-created on the same IP would get no lease."""
    leases.write_text("".join(line for line in _lease_lines(leases)
                              if len(line.split()) < 3 or line.split()[2] not in ips))


def ensure(spec: DhcpSpec, base: Path) -> None:
    """Start dnsmasq, or SIGHUP it when only the host/option files changed, or restart it when its flags did
    or when a removed reservation still holds a lease."""
    conf = base / spec.network_id
    conf.mkdir(parents=True, exist_ok=True)
    files = files_for(spec)
    old_hosts = (conf / "hosts").read_text() if (conf / "hosts").exists() else ""
    released = reserved_ips(old_hosts) - reserved_ips(files["hosts"])
    changed = False
    for name, text in files.items():
        changed |= write_if_changed(conf / name, text)
    cmd = command(spec, conf)
    flags_changed = write_if_changed(conf / "cmdline", "\n".join(cmd))
    pid = pid_alive(conf / "pid", str(conf))
    stale = released & leased_ips(conf / "leases")
    if pid and (flags_changed or stale):
        stop(conf)
        pid = None
    if stale:
        drop_leases(conf / "leases", stale)
    if pid is None:
        proc = subprocess.run(["ip", "netns", "exec", spec.netns, *cmd], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"dnsmasq for network {spec.network_id} failed: {proc.stderr.strip()}")
    elif changed:
        os.kill(pid, signal.SIGHUP)


def stop(conf: Path) -> None:
    pid = pid_alive(conf / "pid", str(conf))
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.02)


def remove(base: Path, network_id: str) -> None:
    conf = base / network_id
    stop(conf)
    metadata.stop(conf)
    shutil.rmtree(conf, ignore_errors=True)


def running(base: Path) -> list[str]:
    if not base.exists():
        return []
    return sorted(d.name for d in base.iterdir() if d.is_dir() and pid_alive(d / "pid", str(d)))
