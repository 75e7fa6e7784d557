"""A volume another node exports over iSCSI: storage's connection info checked, then made a network disk."""
from __future__ import annotations

import re

from services.compute.drivers.specs import DiskSpec
from services.compute.faults import BuildError

# this node's initiator name, which storage's target admits (the connector's "initiator")
INITIATOR_PREFIX = "iqn.2026-12.dev.egret:"
# what libvirt writes into XML and QEMU's libiscsi parses: nothing but these (no '/', quotes, markup or spaces)
_IQN = re.compile(r"iqn\.[0-9]{4}-[0-9]{2}\.[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[A-Za-z0-9.:_-]+)?")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\]")
_USER = re.compile(r"[A-Za-z0-9._:@-]{1,255}")
_SECRET = re.compile(r"[\x20-\x7e]{1,255}")
MAX_LUN = 16383
FORMATS = ("qcow2", "raw")


class BadConnection(BuildError):
    """Storage's connection info for an exported volume is not one this node can use (it is let go)."""


def initiator(host: str) -> str:
    return INITIATOR_PREFIX + host


def _text(data: dict, key: str, pattern: re.Pattern) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and len(value) <= 260 and pattern.fullmatch(value) else None


def _portal(data: dict) -> str | None:
    value = data.get("target_portal")
    if not isinstance(value, str):
        return None
    host, sep, port = value.rpartition(":")
    ok = sep and _HOST.fullmatch(host) and port.isascii() and port.isdigit() and len(port) <= 5 \
        and 0 < int(port) < 65536
    return value if ok else None


def _lun(data: dict) -> int | None:
    value = data.get("target_lun")
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_LUN
    return value if ok else None


def problems(data) -> list[str]:
    """What is missing or malformed in an iSCSI connection's data (the fields' names only: never their values,
    which may be anything storage sent)."""
    if not isinstance(data, dict):
        return ["no data"]
    checks = {"target_portal": _portal(data), "target_iqn": _text(data, "target_iqn", _IQN),
              "target_lun": _lun(data), "auth_username": _text(data, "auth_username", _USER),
              "auth_password": _text(data, "auth_password", _SECRET)}
    out = [f"no valid {key}" for key, value in checks.items() if value is None]
    if data.get("auth_method") != "CHAP":
        out.append("an auth_method other than CHAP")
    if data.get("format") not in FORMATS:
        out.append("a format other than qcow2 or raw")
    if data.get("access_mode", "rw") not in ("rw", "ro"):
        out.append("an access_mode other than rw or ro")
    return out


def disk_spec(volume_id: str, info: dict, target: str, host: str) -> DiskSpec:
    """The network disk for an exported volume on node `host`; BadConnection (naming what is wrong) for
    anything libvirt's XML or QEMU's initiator should not be given."""
    data = info.get("data")
    wrong = problems(data)
    if wrong:
        raise BadConnection(f"Volume {volume_id} cannot be attached: storage's iSCSI connection info has "
                            f"{', '.join(wrong)}.")
    return DiskSpec(path=f"{data['target_iqn']}/{data['target_lun']}", target=target, format=data["format"],
                    source_type="network", protocol="iscsi", portal=data["target_portal"],
                    initiator=initiator(host), auth_username=data["auth_username"],
                    auth_password=data["auth_password"], readonly=data.get("access_mode") == "ro",
                    serial=volume_id)


def stored(info: dict) -> dict:
    """The connection info as compute keeps it on the server's row: without the CHAP password (the node's libvirt
    secret holds it; a new connection brings a new one)."""
    data = info.get("data")
    if not isinstance(data, dict) or "auth_password" not in data:
        return info
    return {**info, "data": {k: v for k, v in data.items() if k != "auth_password"}}
