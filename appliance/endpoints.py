"""What an operator is told to connect to: each API's URL, and the admin's clouds.yaml for the OpenStack clients."""
from __future__ import annotations

import os

import yaml

from appliance import config, pki

ENDPOINT_LABELS = [
    ("identity", "identity (Keystone v3)", "/v3"),
    ("compute", "compute (Nova v2.1)", "/v2.1"),
    ("network", "network (Neutron v2.0)", ""),
    ("image", "image (Glance v2)", ""),
    ("volume", "block-storage (Cinder v3)", "/v3"),
    ("s3", "object-store (S3)", ""),
    ("cluster", "site membership (cluster)", "/v1/cluster"),
    ("federation", "federation", "/v1"),
]


def endpoints(settings: config.Settings, units) -> list[tuple[str, str]]:
    """(label, URL) of each API the units serve; a TLS unit serves https whatever public_scheme says."""
    ports = {p for u in units for p in u.ports}
    tls_ports = {p for u in units if u.extra.get("tls") for p in u.ports}
    out = []
    for port, label, path in ENDPOINT_LABELS:
        if port in ports:
            url = settings.url(port, path)
            out.append((label, "https://" + url.split("://", 1)[1] if port in tls_ports else url))
    return out


def write_clouds_yaml(settings: config.Settings, password: str | None) -> str:
    """The admin's clouds.yaml in the state dir (0600); password None keeps the one already written there."""
    path = settings.state_dir / "clouds.yaml"
    auth = {"auth_url": settings.url("identity", "/v3"), "username": "admin", "project_name": "admin",
            "user_domain_name": "Default", "project_domain_name": "Default"}
    if password is None and path.exists():
        old = yaml.safe_load(path.read_text()) or {}
        password = old.get("clouds", {}).get("egret", {}).get("auth", {}).get("password")
    if password:
        auth["password"] = password
    doc = {"clouds": {"egret": {"auth": auth, "region_name": settings.region, "interface": "public",
                                "identity_api_version": 3}}}
    if settings.tls_enabled:
        # every API serves the box's certificate (or an operator's): the clients verify it against this CA
        doc["clouds"]["egret"]["cacert"] = str(pki.ensure_api_tls(settings)["ca"])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    return str(path)
