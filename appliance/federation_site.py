"""The site side of federation: enrol in a hub with an enrol token, then dial home with mTLS reports.

Files live in <state_dir>/cluster/federation/: hub.json (the enrolment record), ca.crt (the hub CA, the only
trust root for the hub), site.crt and site.key (0600, the key never leaves this box).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from appliance import jointoken, pki
from appliance.unitstatus import status


# The hub's 403 to a decommissioned site says "Site '<name>' was decommissioned by this hub at <time>; ..."
# (services/federation/manager.py uses this constant): the site recognises it and leaves the fleet.
DECOMMISSIONED = "was decommissioned by this hub"


class EnrolError(RuntimeError):
    """Enrolment failed; the message says why, and nothing was written."""


class Decommissioned(EnrolError, pki.PeerError):
    """The hub decommissioned this site; its local enrolment is gone and the box is standalone now.

    A PeerError too (status 403), so a caller that handles a refused report (the cluster unit's dial-home loop)
    handles this one without knowing it."""

    def __init__(self, message: str):
        pki.PeerError.__init__(self, message, status=403)


class EnrolPinMismatch(EnrolError, pki.PinMismatch):
    """The hub at the token's URL presents another CA than the token pins (an EnrolError and a PinMismatch)."""


def directory(settings) -> Path:
    return Path(settings.state_dir) / "cluster" / "federation"


def enrolment(settings) -> dict | None:
    """The enrolment record (hub.json), or None if this box is not enrolled."""
    path = directory(settings) / "hub.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def forget(settings) -> None:
    """Remove the local enrolment (the hub keeps its record until an admin revokes the site)."""
    shutil.rmtree(directory(settings), ignore_errors=True)


def _decode(token: str, now: float | None) -> dict:
    try:
        return jointoken.parse("enrol", token, now=now)
    except jointoken.TokenInvalid as exc:
        raise EnrolError(str(exc)) from None


def enrol(settings, token: str, *, site_name: str, info: dict | None = None, hub_url: str | None = None,
          timeout: float = 15.0) -> dict:
    """Enrol this box in the hub the token names, as `site_name`; idempotent; all or nothing."""
    # an expired token must not stop a re-run that has nothing left to do, so look at it without the clock first
    body = _decode(token, now=0)
    existing = enrolment(settings)
    if existing is not None:
        if existing.get("ca_fingerprint") == body["ca_fingerprint"] and existing.get("site") == site_name:
            return existing
        raise EnrolError(f"This box is already enrolled in the hub at {existing.get('hub_url')} as site "
                         f"'{existing.get('site')}'; forget that enrolment before enrolling elsewhere.")
    body = _decode(token, now=None)
    url = (hub_url or body.get("hub_url") or "").rstrip("/")
    if not url.startswith("https://"):
        raise EnrolError("The token names no https:// hub URL.")
    try:
        ca_pem = pki.fetch_pinned_ca(url, body["ca_fingerprint"], path="/v1/ca")
    except pki.PinMismatch as exc:
        raise EnrolPinMismatch(str(exc)) from exc
    except pki.PeerError as exc:
        raise EnrolError(f"Cannot fetch the hub's CA: {exc}") from exc
    key_pem, csr_pem = pki.new_key_and_csr(f"site:{site_name}")
    # the key is written before the hub is asked, so a box that cannot write its state fails with the token unspent
    staging = _staging(settings)
    try:
        pki.write_private(staging / "site.key", key_pem)
        try:
            answer = pki.request("POST", url + "/v1/enrol", ca_pem=ca_pem, timeout=timeout,
                                 body={"secret": body["secret"], "site": site_name, "csr": csr_pem,
                                       "info": info or {}})
        except pki.PeerError as exc:
            raise EnrolError(f"The hub refused the enrolment: {exc}" if exc.status else
                             f"The hub could not be reached: {exc}") from exc
        cert_pem = answer.get("certificate", "")
        if not pki.verifies(cert_pem, ca_pem):
            raise EnrolError("The hub answered with a certificate its pinned CA did not sign; nothing was written.")
        site = answer.get("site") or {}
        record = {"hub_url": url, "ca_fingerprint": body["ca_fingerprint"], "site": site_name,
                  "site_id": site.get("id"), "enrolled_at": site.get("enrolled_at")
                  or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "certificate_fingerprint": pki.fingerprint(cert_pem)}
        (staging / "ca.crt").write_text(ca_pem)
        (staging / "site.crt").write_text(cert_pem)
        (staging / "hub.json").write_text(json.dumps(record, indent=1) + "\n")
        # one rename publishes every file at once: a crash leaves all of them or none
        os.rename(staging, directory(settings))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def _staging(settings) -> Path:
    """A fresh private directory beside the target; a leftover target without hub.json is removed first."""
    target = directory(settings)
    try:
        if target.exists() and not (target / "hub.json").exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".federation-", dir=target.parent))
        os.chmod(staging, 0o700)
        return staging
    except OSError as exc:
        raise EnrolError(f"Cannot write the enrolment under {target.parent}: {exc}; nothing was sent to the hub.") \
            from None


def report(settings, health: dict, inventory: dict, *, timeout: float = 15.0) -> dict:
    """One dial-home report over mTLS; the hub's answer says when to report next. PeerError on failure."""
    record = enrolment(settings)
    if record is None:
        raise EnrolError("This box is not enrolled in a federation hub.")
    files = directory(settings)
    # the hub shows each site's release from its reports, whichever caller built the inventory
    inventory = dict(inventory)
    if "version" not in inventory and _release():
        inventory["version"] = _release()
    try:
        return pki.request("POST", f"{record['hub_url']}/v1/sites/{record['site']}/reports",
                           ca_pem=(files / "ca.crt").read_text(), cert=(files / "site.crt", files / "site.key"),
                           body={"health": health, "inventory": inventory}, timeout=timeout)
    except pki.PeerError as exc:
        if exc.status != 403 or DECOMMISSIONED not in str(exc):
            raise
    forget(settings)
    raise Decommissioned(f"Site '{record['site']}' was decommissioned by the hub {record['hub_url']}; "
                         "this box is standalone now.")


def _release() -> str | None:
    """This box's Egret release (the installed distribution's version), None in a never-installed source tree."""
    try:
        return version("egret")
    except Exception:
        return None


def local_report(settings) -> tuple[dict, dict]:
    """(health, inventory) of this box as a report carries them: each enabled unit's /healthz, and what runs here."""
    rows = status(settings)
    health = {r["unit"]: bool(r["healthy"]) for r in rows}
    inventory = {"hostname": socket.gethostname(), "units": sorted(health)}
    if _release():  # not installed as a distribution (a source checkout): the report still goes out
        inventory["version"] = _release()
    return health, inventory
