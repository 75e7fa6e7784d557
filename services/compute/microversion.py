"""Compute microversions: parse both request headers, reject what we do not implement, echo the result."""
from __future__ import annotations

import re

from flask import g, request

from appliance.errors import BadRequest, NotAcceptable

MIN_VERSION = (2, 1)
# 2.79 is the highest version whose every change up to it is implemented here (see docs/compute.md)
MAX_VERSION = (2, 79)
_RE = re.compile(r"^(\d+)\.(\d+)$")


def fmt(v) -> str:
    return f"{v[0]}.{v[1]}"


def _parse(text: str):
    text = text.strip()
    if text.lower() == "latest":
        return MAX_VERSION
    m = _RE.match(text)
    if not m:
        raise BadRequest(f"Version {text} is not a valid microversion (expected X.Y or 'latest').")
    return int(m.group(1)), int(m.group(2))


def negotiate() -> tuple[int, int]:
    """The request's microversion (2.1 when none is sent); 406 outside [min, max]."""
    wanted = None
    header = request.headers.get("OpenStack-API-Version")
    if header:
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute":
                wanted = value
    if wanted is None:
        wanted = request.headers.get("X-OpenStack-Nova-API-Version")
    version = _parse(wanted) if wanted else MIN_VERSION
    if version < MIN_VERSION or version > MAX_VERSION:
        raise NotAcceptable(f"Version {fmt(version)} is not supported by the API. Minimum is {fmt(MIN_VERSION)} "
                            f"and maximum is {fmt(MAX_VERSION)}.")
    g.microversion = version
    return version


def current() -> tuple[int, int]:
    return g.get("microversion", MIN_VERSION)


def at_least(minor: int) -> bool:
    return current() >= (2, minor)


def add_headers(response):
    version = g.get("microversion")
    if version is not None:
        response.headers["OpenStack-API-Version"] = f"compute {fmt(version)}"
        response.headers["X-OpenStack-Nova-API-Version"] = fmt(version)
    response.headers.add("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
    return response
