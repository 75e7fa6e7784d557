"""A member's clients use the site's API, not the box's own cloud: its clouds.yaml and the endpoints it prints."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

STANDALONE = "clouds.yaml.standalone"  # the box's own clouds.yaml, kept while it is a member, back on leave


def api_ca_file(settings) -> Path:
    return Path(settings.state_dir) / "cluster" / "member" / "api-ca.crt"


def clouds_path(settings) -> Path:
    return Path(settings.state_dir) / "clouds.yaml"


def install(settings, member_dir: Path, api: dict) -> None:
    """Keep the site API's CA beside the member's other site files (written into the join's temporary dir)."""
    if api.get("ca_certificate"):
        (member_dir / "api-ca.crt").write_text(api["ca_certificate"])


def write(settings, api: dict) -> str:
    """clouds.yaml naming the site's identity (the site's admin password is the founder's: the operator gives it,
    OS_PASSWORD or --os-password). The box's own clouds.yaml is kept aside once, for `egret cluster leave`."""
    path, kept = clouds_path(settings), Path(settings.state_dir) / STANDALONE
    if path.exists() and not kept.exists():
        os.replace(path, kept)
    cloud = {"auth": {"auth_url": api["identity_url"], "username": "admin", "project_name": "admin",
                      "user_domain_name": "Default", "project_domain_name": "Default"},
             "region_name": api.get("region") or "RegionOne", "interface": "public", "identity_api_version": 3}
    if api.get("ca_certificate"):
        cloud["cacert"] = str(api_ca_file(settings))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# This box is a member of a site: its clients use the site's API (the founder's), not this box's.\n")
        yaml.safe_dump({"clouds": {"egret": cloud}}, fh, sort_keys=False)
    return str(path)


def restore(settings) -> None:
    """Leaving the site: the box's own clouds.yaml again."""
    kept = Path(settings.state_dir) / STANDALONE
    if kept.exists():
        os.replace(kept, clouds_path(settings))


def member_api(info: dict | None) -> dict | None:
    """The site's API a member's clients use (from its site record), None for a founder or a standalone box."""
    if info and info.get("role") == "member" and (info.get("api") or {}).get("identity_url"):
        return info["api"]
    return None


def endpoints(info: dict) -> list[tuple[str, str]]:
    """(label, URL) of the site's APIs as the founder announced them at the join."""
    return [(e["label"], e["url"]) for e in (info.get("api") or {}).get("endpoints", [])]
