"""Step 2: the box's identity: hostname (RFC 1123), time zone (zoneinfo), NTP servers."""
from __future__ import annotations

import ipaddress
import re
import zoneinfo

from firstboot.steps import StepError, check_schema

NAME = "box"
TITLE = "Box identity"
APPLY_ORDER = 10
SCHEMA = {
    "type": "object",
    "properties": {
        "hostname": {"type": "string", "maxLength": 253},
        "timezone": {"type": "string", "maxLength": 64},
        "ntp_servers": {"type": "array", "items": {"type": "string", "maxLength": 253}, "maxItems": 8},
    },
    "required": ["hostname", "timezone"],
    "additionalProperties": False,
}
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_NTP = ["0.pool.ntp.org", "1.pool.ntp.org"]


def hostname_problem(name: str) -> str | None:
    if not name:
        return "A host name is required."
    if len(name) > 253:
        return "A host name has at most 253 characters."
    labels = name.rstrip(".").split(".")
    for label in labels:
        if not LABEL.match(label):
            return (f"'{label}' is not a valid label: use 1-63 lower-case letters, digits or '-', "
                    "not starting or ending with '-' (RFC 1123).")
    if labels[-1].isdigit():
        return "The last label of a host name cannot be all digits."
    return None


def host_or_ip_problem(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        return hostname_problem(value)


def timezones() -> list[str]:
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def split_list(text: str) -> list[str]:
    return [v for v in re.split(r"[\s,]+", text or "") if v]


def from_form(form) -> dict:
    return {"hostname": form.get("hostname", "").strip(), "timezone": form.get("timezone", ""),
            "ntp_servers": split_list(form.get("ntp_servers", ""))}


def validate(answers: dict, ctx) -> dict:
    check_schema(answers, SCHEMA)
    hostname = answers["hostname"].strip().lower().rstrip(".")
    problem = hostname_problem(hostname)
    if problem:
        raise StepError("hostname", problem)
    if answers["timezone"] not in zoneinfo.available_timezones():
        raise StepError("timezone", f"Unknown time zone {answers['timezone']!r}; pick one such as Europe/Paris.")
    ntp = [s.strip().lower() for s in answers.get("ntp_servers", [])]
    seen = set()
    for i, server in enumerate(ntp):
        problem = host_or_ip_problem(server)
        if problem:
            raise StepError(f"ntp_servers/{i}", f"NTP server {server!r}: {problem}")
        if server in seen:
            raise StepError(f"ntp_servers/{i}", f"NTP server {server!r} is listed twice.")
        seen.add(server)
    return {"hostname": hostname, "timezone": answers["timezone"], "ntp_servers": ntp}


def summary(answers: dict) -> list[tuple[str, str]]:
    return [("Host name", answers["hostname"]), ("Time zone", answers["timezone"]),
            ("NTP servers", ", ".join(answers["ntp_servers"]) or "none")]


def config_sections(answers: dict, ctx) -> dict:
    return {"box": dict(answers)}


def apply(answers: dict, ctx):
    dns = (ctx.state.answers().get("network") or {}).get("dns", [])
    return {"previous": ctx.system.set_identity(answers["hostname"], answers["timezone"], answers["ntp_servers"],
                                                dns)}


def undo(record: dict, ctx) -> None:
    ctx.system.restore_identity(record["previous"])
