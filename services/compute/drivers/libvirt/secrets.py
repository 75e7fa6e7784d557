"""The libvirt secrets holding network disks' CHAP passwords: defined before a disk needs one, undefined with it."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt

from services.compute.drivers import base
from services.compute.drivers.libvirt.xml import SECRET_PREFIX, secret_usage


def _secret_xml(usage: str) -> str:
    # private: libvirt never hands the value back through its API; not ephemeral: the guest starts again after a
    # libvirtd restart (the value is kept root-only under /etc/libvirt/secrets)
    el = ET.Element("secret", {"ephemeral": "no", "private": "yes"})
    ET.SubElement(ET.SubElement(el, "usage", {"type": "iscsi"}), "target").text = usage
    return ET.tostring(el, encoding="unicode")


def _lookup(conn, usage: str):
    try:
        return conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, usage)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SECRET:
            return None
        raise base.DriverError(exc.get_error_message() or str(exc)) from None


def put(conn, usage: str, password: str) -> bool:
    """The secret of `usage` holding `password`; True when it was defined here (not there before)."""
    secret = _lookup(conn, usage)
    created = secret is None
    try:
        if created:
            secret = conn.secretDefineXML(_secret_xml(usage))
        secret.setValue(password.encode())
    except libvirt.libvirtError as exc:
        if created and secret is not None:
            drop(conn, [usage])
        # libvirt's words name the usage, never the value
        raise base.DriverError(exc.get_error_message() or str(exc)) from None
    return created


def ensure(conn, disks) -> list[str]:
    """Secrets for the network disks that bring a password (a disk without one uses the node's secret already
    defined: a definition read back); the usages defined here, for a caller to drop if what needed them fails."""
    created = []
    try:
        for disk in disks:
            if disk.source_type == "network" and disk.auth_username and disk.auth_password is not None:
                if put(conn, secret_usage(disk), disk.auth_password):
                    created.append(secret_usage(disk))
    except base.DriverError:
        drop(conn, created)
        raise
    return created


def disk_usages(disk: ET.Element) -> set[str]:
    """The usages of this driver's secrets that one <disk> names (libvirt may write its <auth> as the disk's child
    rather than its source's)."""
    if disk.get("type") != "network":
        return set()
    found = {s.get("usage") for path in ("./source/auth/secret", "./auth/secret") for s in disk.iterfind(path)}
    return {u for u in found if isinstance(u, str) and u.startswith(SECRET_PREFIX)}


def usages(xml_text: str) -> set[str]:
    """The usages of this driver's secrets that a domain's network disks name."""
    out: set[str] = set()
    for disk in ET.fromstring(xml_text).iterfind("./devices/disk"):
        out |= disk_usages(disk)
    return out


def drop(conn, names) -> None:
    """Undefine the secrets of these usages; one already gone is what was wanted."""
    for usage in names:
        secret = _lookup(conn, usage)
        if secret is None:
            continue
        try:
            secret.undefine()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_SECRET:
                raise base.DriverError(exc.get_error_message() or str(exc)) from None
