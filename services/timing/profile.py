"""The PTP profile an operator sets (interfaces, profile, role, time stamping), checked, and ptp4l's config for it."""
from __future__ import annotations

import jsonschema

PROFILES = ("default", "g8275.1", "gptp")
ROLES = ("grandmaster", "boundary", "ordinary")
DEFAULT = {"enabled": False, "interfaces": [], "profile": "default", "role": "ordinary",
           "timestamping": "hardware", "domain": None, "steer_clock": True}

SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "enabled": {"type": "boolean"},
        "interfaces": {"type": "array", "maxItems": 16, "uniqueItems": True,
                       "items": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$"}},
        "profile": {"enum": list(PROFILES)},
        "role": {"enum": list(ROLES)},
        "timestamping": {"enum": ["hardware", "software"]},
        "domain": {"type": ["integer", "null"], "minimum": 0, "maximum": 255},
        # false: measure only (ptp4l's free_running), the clock is left alone
        "steer_clock": {"type": "boolean"},
    },
}

# what each profile changes from linuxptp's defaults (its configs/default.cfg, G.8275.1.cfg, gPTP.cfg)
_PROFILE_OPTIONS = {
    "default": {"domainNumber": 0},
    "g8275.1": {"domainNumber": 24, "dataset_comparison": "G.8275.x", "G.8275.defaultDS.localPriority": 128,
                "network_transport": "L2", "ptp_dst_mac": "01:19:1B:00:00:00", "logAnnounceInterval": -3,
                "logSyncInterval": -4, "logMinDelayReqInterval": -4, "announceReceiptTimeout": 3,
                "maxStepsRemoved": 255},
    "gptp": {"domainNumber": 0, "gmCapable": 1, "priority1": 248, "priority2": 248, "transportSpecific": "0x1",
             "network_transport": "L2", "ptp_dst_mac": "01:80:C2:00:00:0E", "delay_mechanism": "P2P",
             "logAnnounceInterval": 0, "logSyncInterval": -3, "logMinPdelayReqInterval": 0,
             "announceReceiptTimeout": 3, "syncReceiptTimeout": 3, "neighborPropDelayThresh": 800,
             "min_neighbor_prop_delay": -20000000, "assume_two_step": 1, "path_trace_enabled": 1,
             "follow_up_info": 1},
}


class ProfileError(ValueError):
    """A PTP profile that cannot run; the message starts with the field."""


def normalize(body: dict, current: dict | None = None) -> dict:
    """`current` (or the defaults) with `body`'s changes, checked as a whole."""
    try:
        jsonschema.validate(body, SCHEMA)
    except jsonschema.ValidationError as exc:
        field = ".".join(str(p) for p in exc.absolute_path) or "ptp"
        raise ProfileError(f"{field}: {exc.message}") from None
    out = {**DEFAULT, **(current or {}), **body}
    if out["enabled"]:
        count = len(out["interfaces"])
        if not count:
            raise ProfileError("interfaces: PTP needs at least one interface to run on")
        if out["role"] == "boundary" and count < 2:
            raise ProfileError("interfaces: a boundary clock has two or more ports (interfaces)")
        if out["role"] == "ordinary" and count != 1:
            raise ProfileError("interfaces: an ordinary clock has one port (interface)")
    return out


def ptp4l_config(profile: dict, uds: str) -> str:
    """ptp4l's configuration file for `profile` (interfaces are given on its command line)."""
    options = {"time_stamping": profile["timestamping"], "uds_address": uds, **_PROFILE_OPTIONS[profile["profile"]]}
    if profile["domain"] is not None:
        options["domainNumber"] = profile["domain"]
    if profile["role"] == "grandmaster":
        # linuxptp 3.1 (Debian 12) spells them masterOnly/slaveOnly; 4.0 added serverOnly/clientOnly as aliases
        options.update(masterOnly=1, priority1=10 if profile["profile"] != "gptp" else 246, clockClass=6)
    elif profile["role"] == "ordinary":
        options["slaveOnly"] = 1
    else:
        options["boundary_clock_jbod"] = 1 if profile["timestamping"] == "hardware" else 0
    if not profile["steer_clock"]:
        options["free_running"] = 1
    lines = ["[global]"] + [f"{key} {value}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def needs_phc2sys(profile: dict) -> bool:
    """phc2sys carries the NIC's hardware clock to the system clock; with software stamping there is none, and
    ptp4l steers the system clock itself. A profile that only measures steers nothing, so it runs none."""
    return profile["timestamping"] == "hardware" and profile["steer_clock"]
