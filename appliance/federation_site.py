"""The site side of federation: enrol in a hub with an enrol token, then dial home with mTLS reports.

Files live in <state_dir>/cluster/federation/: hub.json (the enrolment record, with the hub's pinned signing key),
ca.crt (the hub CA, the only trust root for the hub), site.crt and site.key (0600, the key never leaves this box).

The site certificate is renewed online: after a report, when less than `renew_before` ([service.federation], a
fraction, default 1/3) of its lifetime is left, the site sends a CSR for a new key, authenticated by the current
certificate, and installs the new pair (site.key.new and site.crt.new renamed into place; a crash in between is
finished by the next report). A failed renewal keeps the old pair and is tried again at the next report.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appliance import federation_bundle, jointoken, pki
from appliance.unitstatus import status

log = logging.getLogger(__name__)

# renew when less than this fraction of the certificate's lifetime is left ([service.federation] renew_before)
DEFAULT_RENEW_BEFORE = 1 / 3


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


class RenewalError(pki.PeerError):
    """A certificate renewal failed; the old certificate and key are kept (and tried again at the next report)."""


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
        # the answer came over TLS to the pinned CA: the signing key in it is the hub's
        signing_key = answer.get("signing_key")
        try:
            federation_bundle.load_public_key(signing_key or {})
            record["signing_key"] = signing_key
        except federation_bundle.BundleError:
            log.warning("The hub at %s sent no signing key at enrolment; it is pinned at the first report", url)
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
    _finish_renewal(settings)  # a renewal a crash interrupted
    # the hub shows each site's release from its reports, whichever caller built the inventory
    inventory = dict(inventory)
    release = _release()
    if "version" not in inventory and release:
        inventory["version"] = release
    try:
        answer = pki.request("POST", f"{record['hub_url']}/v1/sites/{record['site']}/reports",
                             ca_pem=(files / "ca.crt").read_text(), cert=(files / "site.crt", files / "site.key"),
                             body={"health": health, "inventory": inventory}, timeout=timeout)
    except pki.PeerError as exc:
        if exc.status != 403 or DECOMMISSIONED not in str(exc):
            raise
        forget(settings)
        raise Decommissioned(f"Site '{record['site']}' was decommissioned by the hub {record['hub_url']}; "
                             "this box is standalone now.") from None
    if "signing_key" not in record:
        try:
            pin_signing_key(settings, timeout=timeout)
        except (pki.PeerError, federation_bundle.BundleError) as exc:
            log.warning("Could not pin the hub's signing key (tried again at the next report): %s", exc)
    renewal = renew_if_due(settings, timeout=timeout)
    if renewal is not None:
        answer["certificate_renewal"] = renewal
    return answer


# --- the hub's signing key --------------------------------------------------------------------------------
def _write_record(settings, record: dict) -> None:
    """hub.json, replaced atomically."""
    path = directory(settings) / "hub.json"
    tmp = path.with_name(".hub.json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)


def pin_signing_key(settings, *, timeout: float = 15.0) -> dict:
    """For an enrolment made before hubs had signing keys: fetch the hub's key once over TLS to the pinned CA and
    pin it in hub.json. A key pinned already is kept (never replaced by what the hub says later)."""
    record = enrolment(settings)
    if record is None:
        raise EnrolError("This box is not enrolled in a federation hub.")
    if record.get("signing_key"):
        return record["signing_key"]
    files = directory(settings)
    answer = pki.request("GET", f"{record['hub_url']}/v1/signing-key", ca_pem=(files / "ca.crt").read_text(),
                         timeout=timeout)
    document = answer.get("signing_key") or {}
    _, key_id = federation_bundle.load_public_key(document)
    record["signing_key"] = document
    _write_record(settings, record)
    log.info("Pinned the signing key %s of the hub %s (this enrolment predates signing keys)", key_id,
             record["hub_url"])
    return document


# --- certificate renewal ----------------------------------------------------------------------------------
def renew_before(settings) -> float:
    value = settings.section("federation").get("renew_before", DEFAULT_RENEW_BEFORE)
    try:
        fraction = float(value)
    except (TypeError, ValueError):
        fraction = -1
    if not 0 < fraction < 1:
        log.warning("[service.federation] renew_before must be a fraction between 0 and 1, not %r; using 1/3",
                    value)
        return DEFAULT_RENEW_BEFORE
    return fraction


def renewal_due(cert_pem: str, fraction: float, now: datetime.datetime | None = None) -> bool:
    """True when less than `fraction` of the certificate's lifetime is left (or it has expired)."""
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    now = now or datetime.datetime.now(datetime.timezone.utc)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return cert.not_valid_after_utc - now < lifetime * fraction


def renew_if_due(settings, *, timeout: float = 15.0) -> dict | None:
    """Renew the site certificate if it is due: None if not due, else what happened (failures are logged and
    reported here, never raised: the old pair is kept and the next report tries again)."""
    try:
        due = renewal_due((directory(settings) / "site.crt").read_text(), renew_before(settings))
    except (OSError, ValueError) as exc:  # the report itself went through, so the hub did accept a pair
        log.warning("Cannot read the site certificate to judge its renewal: %s", exc)
        return None
    if not due:
        return None
    try:
        return renew(settings, timeout=timeout)
    except (pki.PeerError, OSError, ValueError) as exc:
        log.warning("Renewing the site certificate failed; the current one is kept and renewal is tried again at "
                    "the next report: %s", exc)
        return {"renewed": False, "error": str(exc)}


def renew(settings, *, timeout: float = 15.0) -> dict:
    """Trade the current certificate for a new one, for a new key; RenewalError (old pair kept) on failure."""
    record = enrolment(settings)
    if record is None:
        raise EnrolError("This box is not enrolled in a federation hub.")
    files = directory(settings)
    ca_pem = (files / "ca.crt").read_text()
    name = f"site:{record['site']}"
    key_pem, csr_pem = pki.new_key_and_csr(name)
    try:
        answer = pki.request("POST", f"{record['hub_url']}/v1/sites/{record['site']}/certificate", ca_pem=ca_pem,
                             cert=(files / "site.crt", files / "site.key"), body={"csr": csr_pem}, timeout=timeout)
    except pki.PeerError as exc:
        raise RenewalError(f"The hub refused the certificate renewal: {exc}", status=exc.status) from None
    cert_pem = answer.get("certificate") or ""
    if not pki.verifies(cert_pem, ca_pem) or pki.common_name(cert_pem) != name or not _matches(cert_pem, key_pem):
        raise RenewalError("The hub answered the renewal with a certificate that is not for this site's new key "
                           "or not signed by the pinned CA; the current certificate is kept.")
    _install_pair(files, key_pem, cert_pem)
    record["certificate_fingerprint"] = pki.fingerprint(cert_pem)
    _write_record(settings, record)
    expires = x509.load_pem_x509_certificate(cert_pem.encode()).not_valid_after_utc
    log.info("Renewed the site certificate of '%s'; the new one is valid until %s", record["site"],
             expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return {"renewed": True, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "certificate_fingerprint": record["certificate_fingerprint"]}


def _matches(cert_pem: str, key_pem: str) -> bool:
    return pki.key_matches(x509.load_pem_x509_certificate(cert_pem.encode()),
                           serialization.load_pem_private_key(key_pem.encode(), password=None))


def _write_synced(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, mode)


def _install_pair(files: Path, key_pem: str, cert_pem: str) -> None:
    """site.key.new (0600) and site.crt.new, synced, then renamed over the pair: key first, certificate last.
    Every crash point leaves either the old pair or what _finish_renewal completes into the new one."""
    _write_synced(files / "site.key.new", key_pem, 0o600)
    _write_synced(files / "site.crt.new", cert_pem, 0o644)
    os.replace(files / "site.key.new", files / "site.key")
    os.replace(files / "site.crt.new", files / "site.crt")
    dir_fd = os.open(files, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _finish_renewal(settings) -> None:
    """Complete a renewal a crash interrupted: a staged certificate for the staged (or already renamed) key is
    renamed into place; staged files that make no pair are removed (the old pair is then intact)."""
    files = directory(settings)
    key_new, crt_new = files / "site.key.new", files / "site.crt.new"
    if not crt_new.exists():
        key_new.unlink(missing_ok=True)  # the crash came before the certificate was staged
        return
    key = key_new if key_new.exists() else files / "site.key"
    try:
        complete = _matches(crt_new.read_text(), key.read_text())
    except ValueError:
        complete = False
    if not complete:
        key_new.unlink(missing_ok=True)
        crt_new.unlink(missing_ok=True)
        return
    if key_new.exists():
        os.replace(key_new, files / "site.key")
    os.replace(crt_new, files / "site.crt")
    record = enrolment(settings)
    if record is not None:
        record["certificate_fingerprint"] = pki.fingerprint((files / "site.crt").read_text())
        _write_record(settings, record)
    log.info("Finished an interrupted renewal of the site certificate")


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
    release = _release()
    if release:  # not installed as a distribution (a source checkout): the report still goes out
        inventory["version"] = release
    return health, inventory
