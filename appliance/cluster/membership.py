"""This box's place in a site: standalone, founder (holds the site CA, issues join tokens) or member."""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

import peewee

from appliance import errors, jointoken, pki, siterole
from appliance.cluster import models, siteclouds, versions
from appliance.endpoints import endpoints
from appliance.manifest import load_manifest, start_order
from appliance.pki import box_ca, node_name  # noqa: F401 (the box's own CA and name, which a site builds on)

log = logging.getLogger("egret.cluster")
STATE = siterole.STATE  # the unit's state directory
DEFAULT_TTL = 3600
HEARTBEAT_INTERVAL = 10.0


def interval(settings) -> float:
    return float(settings.section("cluster").get("heartbeat_interval", HEARTBEAT_INTERVAL))


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def state_dir(settings) -> Path:
    return Path(settings.state_dir) / STATE


def site_file(settings) -> Path:
    return siterole.record_path(settings)


def advertised(settings) -> list[str]:
    """host:port peers use to reach this box's cluster API (setting `advertise`, else public_host)."""
    port = settings.port("cluster")

    def with_port(host: str) -> str:
        if host.startswith("["):  # [v6] or [v6]:port
            return host if "]:" in host else f"{host}:{port}"
        if host.count(":") == 1:  # name:port or v4:port
            return host
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [with_port(h) for h in settings.section("cluster").get("advertise") or [settings.public_host]]


def site(settings) -> dict | None:
    path = site_file(settings)
    return json.loads(path.read_text()) if path.exists() else None


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def adopt(settings) -> None:
    """Files root wrote (the wizard, `egret join`) belong to the cluster unit's user, who owns the directory."""
    base = state_dir(settings)
    if os.geteuid() != 0 or not base.exists():
        return
    owner = base.stat()
    if owner.st_uid == 0:
        # nobody else owns it yet (the wizard on a fresh box, or dev): on the box, systemd hands the whole tree to
        # the unit's user when the unit starts (StateDirectory= fixes a mismatched owner recursively); the
        # wizard's unit could not chown anyway (no CAP_CHOWN)
        return
    for root, dirs, files in os.walk(base):
        for entry in [root, *(os.path.join(root, f) for f in dirs + files)]:
            os.chown(entry, owner.st_uid, owner.st_gid)


def role(settings) -> str:
    info = site(settings)
    return info["role"] if info else "standalone"


def site_ca_pem(settings) -> str:
    """The CA peers must trust: the site's for a member, this box's own otherwise."""
    info = site(settings)
    if info and info["role"] == "member":
        return (state_dir(settings) / "member" / "ca.crt").read_text()
    return box_ca(settings).cert_pem


def prepare_tls(settings) -> dict:
    """Server certificate, key and client trust root for the cluster unit (gunicorn reads them per connection)."""
    info = site(settings)
    files = pki.tls_files(settings, STATE)
    if info and info["role"] == "member":
        files["cert"].parent.mkdir(parents=True, exist_ok=True)
        member = state_dir(settings) / "member"
        for target, source in ((files["cert"], member / "node.crt"), (files["key"], member / "node.key"),
                               (files["ca"], member / "ca.crt")):
            data = source.read_text()
            if not target.exists() or target.read_text() != data:
                (pki.write_private if target == files["key"] else Path.write_text)(target, data)
        return files
    hosts = [a.rsplit(":", 1)[0].strip("[]") for a in advertised(settings)]
    return pki.install_server_tls(settings, STATE, box_ca(settings), node_name(settings),
                                  sans=sorted({"127.0.0.1", *hosts}))


def node_certificate(settings) -> tuple[Path, Path]:
    """This node's client certificate for mTLS to its peers (the files prepare_tls installed at start or join)."""
    files = pki.tls_files(settings, STATE)
    return files["cert"], files["key"]


# --- founding a site --------------------------------------------------------------------------------------
def check_can_found(settings, site_name: str) -> dict | None:
    """The site this box already founded under that name (founding again is a no-op), None if it may found one."""
    info = site(settings)
    if info:
        if info["role"] == "founder" and info["site"] == site_name:
            return info
        raise errors.Conflict(f"This box is already {describe(info)}.")
    return None


def found(settings, site_name: str, database: dict | None = None) -> dict:
    """Make this box the first node of a new site (idempotent for the same name). `database` records where the
    control plane's state is ({"engine": "sqlite", "reason": ...} refuses joins: a second node needs PostgreSQL);
    founding.found_site moves it first."""
    info = check_can_found(settings, site_name)
    if info:
        return info
    ca = box_ca(settings)
    info = {"site": site_name, "role": "founder", "node": node_name(settings), "ca_fingerprint": ca.fingerprint,
            "seeds": advertised(settings), "founded_at": time.time()}
    if database:
        info["database"] = database
    state_dir(settings).mkdir(parents=True, exist_ok=True)
    write_json(site_file(settings), info)
    prepare_tls(settings)
    adopt(settings)
    return info


def leave(settings) -> None:
    """Forget the site on this box (the wizard's rollback; `egret cluster leave`): the box is standalone again."""
    site_file(settings).unlink(missing_ok=True)
    shutil.rmtree(state_dir(settings) / "member", ignore_errors=True)
    for path in pki.tls_files(settings, STATE).values():
        path.unlink(missing_ok=True)
    prepare_tls(settings)  # the cluster unit serves with the box's own CA again
    siteclouds.restore(settings)  # and its clients use its own cloud again
    adopt(settings)


def describe(info: dict | None) -> str:
    if not info:
        return "standalone"
    what = "the founding node" if info["role"] == "founder" else "a member"
    return f"{what} of site '{info['site']}'"


# --- on the founder: tokens, joins, heartbeats ----------------------------------------------------------------
def _founder(settings) -> dict:
    info = site(settings)
    if not info:
        raise errors.Conflict("This box is standalone: found a site first (the wizard's 'new site cluster' role).")
    if info["role"] != "founder":
        raise errors.Conflict(f"Join tokens are issued by the site's founding node ({', '.join(info['seeds'])}).")
    if not models.Node.select().where(models.Node.founder).exists():
        record_own_heartbeat(settings, {})
    return info


def issue_token(settings, ttl: int = DEFAULT_TTL) -> dict:
    if not 60 <= ttl <= 7 * 86400:
        raise errors.BadRequest("ttl must be between 60 seconds and 7 days.")
    info = _founder(settings)
    secret = secrets.token_urlsafe(24)
    expires = time.time() + ttl
    members = [n.name for n in models.Node.select(models.Node.name)]
    token = jointoken.make_token("join", ca_fingerprint=info["ca_fingerprint"], expires_at=expires,
                                 addresses=advertised(settings), members=members or [info["node"]], secret=secret)
    models.JoinToken.create(secret_sha256=_digest(secret), expires_at=_utc(expires))
    return {"token": token, "expires_at": jointoken.parse("join", token)["expires_at"],
            "ca_fingerprint": info["ca_fingerprint"]}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(epoch: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).replace(tzinfo=None)


def shared_database_problem(settings, info: dict) -> str | None:
    """Why this site cannot take a member yet: its founder recorded that the control plane stays on SQLite, and it
    still does (an operator who moved it since with `egret db move --local` is past this)."""
    recorded = info.get("database") or {}
    if recorded.get("engine") != "sqlite" or not settings.database_for("cluster").startswith("sqlite:"):
        return None
    return (f"site '{info['site']}' keeps its control plane in SQLite ({recorded.get('reason', 'no PostgreSQL')}); "
            "a second node needs the shared database: install PostgreSQL on the founder, stop its services, run "
            "`egret db move --local` there and start them again, then join again (this token stays good).")


def site_api(settings) -> dict:
    """What a member's clients use instead of its own cloud: the founder's public API (clouds.yaml, status)."""
    units = start_order(load_manifest(), settings.enabled_services)
    ca_pem = None
    if settings.tls_enabled:
        try:
            ca_pem = pki.api_tls_files(settings)["ca"].read_text()
        except OSError:  # not there yet, or private to another unit: the member's clients then need their own
            log.warning("the API's CA certificate is not readable here; members get the API without it")
    return {"region": settings.region, "identity_url": settings.url("identity", "/v3"),
            "endpoints": [{"label": label, "url": url} for label, url in endpoints(settings, units)],
            "ca_certificate": ca_pem}


def redeem(settings, secret: str, name: str, address: str, csr_pem: str, version: str | None = "") -> dict:
    """Admit a node: the token is consumed atomically, the node gets a certificate from the site CA. Refusals (a
    release of another series, a site without its shared database) come before the token is looked at, so the
    token stays good for a retry once the reason is gone. `version` is what the node said it runs (None: it did
    not say, an older release); an in-process caller that leaves it out runs this release."""
    info = _founder(settings)
    mine = versions.current()
    version = mine if version == "" else version
    if versions.skew(mine, version):
        raise errors.Conflict(versions.refusal(mine, version))
    problem = shared_database_problem(settings, info)
    if problem:
        raise errors.Conflict(problem)
    with models.database.atomic():
        row = models.JoinToken.get_or_none(models.JoinToken.secret_sha256 == _digest(secret))
        if row is None:
            raise errors.Unauthorized("The join token is not one this site issued (or it was revoked).")
        if row.used_at is not None:
            stale = models.Node.get_or_none(models.Node.name == name) if row.used_by == name else None
            if stale is None or stale.confirmed_at is not None or stale.founder:
                raise errors.Unauthorized(f"The join token was already used by node '{row.used_by}'; "
                                          "ask for a new one with `egret join-token`.")
            # the same node again before its first heartbeat: it never kept what it was sent (it died, or its
            # abort did not arrive), so it is admitted afresh and the first certificate is forgotten
            stale.delete_instance()
            models.JoinToken.update(used_at=None, used_by=None).where(models.JoinToken.id == row.id).execute()
        if row.expires_at <= now():
            raise errors.Unauthorized("The join token has expired; ask for a new one with `egret join-token`.")
        if name == info["node"] or models.Node.get_or_none(models.Node.name == name):
            raise errors.Conflict(f"name: a node called '{name}' is already a member of site '{info['site']}'.")
        try:
            cert = box_ca(settings).issue(csr_pem, name, sans=[address.rsplit(":", 1)[0].strip("[]")])
        except ValueError as exc:
            raise errors.BadRequest(f"csr: {exc}.") from None
        # consume only if still unused: two nodes racing with one token cannot both win
        used = (models.JoinToken.update(used_at=now(), used_by=name)
                .where(models.JoinToken.id == row.id, models.JoinToken.used_at.is_null()).execute())
        if used != 1:
            raise errors.Unauthorized("The join token was just used by another node.")
        models.Node.create(name=name, address=address, cert_fingerprint=pki.fingerprint(cert), last_seen=now(),
                           version=version)
    return {"site": info["site"], "ca_certificate": box_ca(settings).cert_pem, "certificate": cert,
            "seeds": info["seeds"], "members": members(settings), "heartbeat_interval": interval(settings),
            "version": mine, "api": site_api(settings)}


def abort_join(settings, secret: str, name: str) -> None:
    """Undo an admission whose node could not finish its side (it could not write its files): the node's row goes
    and its token is good again, so nothing is left and a retry works. Only the token's holder may ask, only for
    the node that token admitted, and only before that node's first heartbeat confirmed the join."""
    info = _founder(settings)
    with models.database.atomic():
        row = models.JoinToken.get_or_none(models.JoinToken.secret_sha256 == _digest(secret))
        if row is None or row.used_by != name:
            raise errors.Unauthorized("The join token is not one this site issued for that node.")
        node = models.Node.get_or_none(models.Node.name == name)
        if node is not None and (node.confirmed_at is not None or node.founder):
            raise errors.Conflict(f"name: node '{name}' is an active member of site '{info['site']}' (it sent "
                                  "heartbeats); remove it with `DELETE /v1/cluster/nodes/{name}` instead.")
        if node is not None:
            node.delete_instance()
        models.JoinToken.update(used_at=None, used_by=None).where(models.JoinToken.id == row.id).execute()


def heartbeat(settings, name: str, address: str | None, health: dict, version: str | None = None) -> dict:
    _founder(settings)
    node = models.Node.get_or_none(models.Node.name == name)
    if node is None:
        raise errors.Forbidden(f"Node '{name}' is not a member of this site (it was removed).")
    node.last_seen, node.health = now(), health
    node.confirmed_at = node.confirmed_at or node.last_seen
    if version:
        node.version = version
    if address:
        node.address = address
    node.save()
    return {"members": members(settings), "heartbeat_interval": interval(settings)}


def record_own_heartbeat(settings, health: dict) -> None:
    info = site(settings)
    if models.Node.update(last_seen=now(), health=health, version=versions.current()) \
            .where(models.Node.name == info["node"]).execute():
        return
    # the founder's own row, made once, with the certificate it serves with. The unit's loop and a CLI
    # (`egret join-token` right after setup) can both get here: the second insert loses and is dropped.
    cert = prepare_tls(settings)["cert"].read_text()
    try:
        with models.database.atomic():
            models.Node.create(name=info["node"], address=info["seeds"][0], cert_fingerprint=pki.fingerprint(cert),
                               founder=True, last_seen=now(), health=health, version=versions.current(),
                               confirmed_at=now())
    except peewee.IntegrityError:
        pass


def remove(settings, name: str) -> None:
    info = _founder(settings)
    if name == info["node"]:
        raise errors.BadRequest("name: the founding node cannot remove itself.")
    if not models.Node.delete().where(models.Node.name == name).execute():
        raise errors.NotFound(f"No node called '{name}' in site '{info['site']}'.")


def members_file(settings) -> Path:
    """The site's member list as the cluster unit last saw it: the founder writes it every heartbeat round, a
    member keeps the founder's answer. Other units on the box (the control plane's node registry, the network
    service's VXLAN flood list) read this file instead of the cluster unit's database."""
    info = site(settings)
    if info and info["role"] == "member":
        return state_dir(settings) / "member" / "members.json"
    return state_dir(settings) / "members.json"


def read_members(settings) -> list[dict]:
    """The members file's list (empty for a standalone box, or a founder whose unit has not written it yet)."""
    if not site(settings):
        return []
    try:
        return json.loads(members_file(settings).read_text())
    except (OSError, ValueError):
        return []


def known_members(settings) -> list[dict]:
    """The site's nodes as this box knows them: the founder's records, or a member's copy from its last heartbeat."""
    info = site(settings)
    if info and info["role"] == "member":
        return json.loads(members_file(settings).read_text())
    return members(settings)


def members(settings) -> list[dict]:
    limit = now() - datetime.timedelta(seconds=3 * interval(settings))
    mine = versions.current()
    out = []
    for n in models.Node.select().order_by(models.Node.created_at):
        status = "online" if n.last_seen and n.last_seen >= limit else "offline"
        out.append({"name": n.name, "address": n.address, "founder": n.founder, "status": status,
                    "last_seen": n.last_seen.strftime("%Y-%m-%dT%H:%M:%SZ") if n.last_seen else None,
                    "health": n.health, "version": n.version, "version_skew": versions.skew(mine, n.version)})
    return out
