"""Federation hub logic: the hub CA, enrolment tokens, enrolment, site reports, the fleet (labels, status,
decommission), revocation."""
from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import socket
import time
from pathlib import Path

from cryptography import x509

from appliance import errors, jointoken, pki
from appliance.db import utcnow
from appliance.federation_site import DECOMMISSIONED
from services.federation import labels, models
from services.federation.bundles import hub_signing_key
from services.federation.groups import SiteGroups
from services.federation.schemas import DEFAULT_TTL, valid_name

STATUSES = ("enrolled", "online", "degraded", "offline", "decommissioned")

DEFAULT_REPORT_INTERVAL = 60
# site certificates' lifetime ([service.federation] site_cert_days, a positive number; fractions for tests)
DEFAULT_SITE_CERT_DAYS = pki.LEAF_DAYS


class Gone(errors.ApiError):
    status = 410


def hub_ca(settings) -> pki.CertificateAuthority:
    """The hub's CA (created at first start): it signs the hub's TLS certificate and every site's certificate."""
    return pki.CertificateAuthority.create(Path(settings.state_dir) / "federation" / "ca", "Egret federation hub CA")


def install_tls(settings) -> dict:
    """Server certificate and client trust root where gunicorn reads them (per connection)."""
    sans = list(dict.fromkeys(["127.0.0.1", "localhost", settings.public_host, socket.gethostname()]))
    return pki.install_server_tls(settings, "federation", hub_ca(settings), "egret-federation-hub", sans)


def site_common_name(site: str) -> str:
    return f"site:{site}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _iso(value: datetime.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


class Manager(SiteGroups):
    def __init__(self, settings):
        self.settings = settings
        self.section = settings.section("federation")
        self.ca = hub_ca(settings)
        self.signing_key = hub_signing_key(settings)
        self.site_cert_days  # a bad setting stops the hub at start, not at the first enrolment

    # --- settings -------------------------------------------------------------------------------------
    @property
    def report_interval(self) -> int:
        return int(self.section.get("report_interval", DEFAULT_REPORT_INTERVAL))

    @property
    def site_cert_days(self) -> float:
        value = self.section.get("site_cert_days", DEFAULT_SITE_CERT_DAYS)
        try:
            days = float(value)
        except (TypeError, ValueError):
            days = 0
        if not 0 < days <= 3650:
            raise ValueError(f"[service.federation] site_cert_days must be a number of days in (0, 3650], not "
                             f"{value!r}")
        return days

    @property
    def hub_url(self) -> str:
        url = self.section.get("public_url")
        if url:
            return str(url).rstrip("/")
        return f"https://{self.settings.public_host}:{self.settings.port('federation')}"

    # --- enrolment tokens -----------------------------------------------------------------------------
    def issue_token(self, ttl: int = DEFAULT_TTL, created_by: str = "") -> dict:
        """A single-use enrol token; only the SHA-256 of its secret is kept."""
        secret = secrets.token_urlsafe(32)
        expires = int(time.time()) + int(ttl)
        models.EnrolmentToken.create(secret_hash=_hash(secret), created_by=created_by,
                                     expires_at=datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
                                     .replace(tzinfo=None))
        token = jointoken.make_token("enrol", ca_fingerprint=self.ca.fingerprint, expires_at=expires,
                                     hub_url=self.hub_url, secret=secret)
        return {"token": token, "expires_at": _iso(datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)),
                "hub_url": self.hub_url, "ca_fingerprint": self.ca.fingerprint}

    # --- enrolment ------------------------------------------------------------------------------------
    def enrol(self, secret: str, site: str, csr_pem: str, info: dict | None = None) -> dict:
        """Consume the token and issue the site's certificate, all or nothing."""
        if not valid_name(site):  # the schema's pattern lets a final newline through ('$')
            raise errors.BadRequest("Invalid input for field 'site': a DNS label (up to 63 characters of a-z 0-9 -, "
                                    "beginning and ending alphanumeric).")
        _load_csr(csr_pem)
        with models.database.atomic():
            token = models.EnrolmentToken.get_or_none(models.EnrolmentToken.secret_hash == _hash(secret))
            if token is None:
                raise errors.Unauthorized("The enrolment token is not known to this hub (wrong hub, or a "
                                          "mistyped token).")
            now = utcnow()
            if token.used_at is not None:
                raise Gone(f"The enrolment token was already used at {_iso(token.used_at)} (by site "
                           f"'{token.used_by}'); ask for a new one.")
            if token.expires_at <= now:
                raise errors.Unauthorized(f"The enrolment token expired at {_iso(token.expires_at)}; ask for a "
                                          "new one.")
            if models.Site.get_or_none(models.Site.name == site) is not None:
                raise errors.Conflict(f"A site named '{site}' is already enrolled in this hub; choose another "
                                      "name or revoke the old site first.")
            cert_pem = self.ca.issue(csr_pem, site_common_name(site), days=self.site_cert_days)
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
            # a conditional update: of two enrolments racing on one token, exactly one changes the row
            claimed = (models.EnrolmentToken.update(used_at=now, used_by=site)
                       .where((models.EnrolmentToken.id == token.id) & models.EnrolmentToken.used_at.is_null())
                       .execute())
            if claimed != 1:
                raise Gone("The enrolment token was used by another enrolment at the same time; ask for a new one.")
            info = info or {}
            row = models.Site.create(name=site, enrolled_at=now, cert_serial=format(cert.serial_number, "x"),
                                     cert_fingerprint=pki.fingerprint(cert_pem), info=info,
                                     region=_reported_region(info.get("region")),
                                     version=_reported_version(info.get("version")))
        # the answer comes over TLS to the pinned CA: the site pins the signing key from it
        return {"site": self.render(row), "certificate": cert_pem, "ca_certificate": self.ca.cert_pem,
                "signing_key": self.signing_key.public_document()}

    # --- certificate renewal --------------------------------------------------------------------------
    def renew_certificate(self, site: str, peer: dict | None, csr_pem: str) -> dict:
        """A new certificate for the site's CSR, authorised by its current one, which is revoked at once: from
        the answer on, only the new certificate is the site's (no grace; see docs/federation.md)."""
        csr = _load_csr(csr_pem)
        wanted = site_common_name(site)
        names = [a.value for a in csr.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]
        if names != [wanted]:
            named = repr(str(names[0])[:80]) if names else "no common name"
            raise errors.BadRequest(f"Invalid input for field 'csr': the request names {named}, not '{wanted}'.")
        with models.database.atomic():
            row = self.authorize_site(site, peer)
            cert_pem = self.ca.issue(csr_pem, wanted, days=self.site_cert_days)
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
            old_serial, new_serial = row.cert_serial, format(cert.serial_number, "x")
            # a conditional update: of two renewals racing with one certificate, exactly one changes the row
            swapped = (models.Site.update(cert_serial=new_serial, cert_fingerprint=pki.fingerprint(cert_pem),
                                          updated_at=utcnow())
                       .where((models.Site.id == row.id) & (models.Site.cert_serial == old_serial)).execute())
            if swapped != 1:
                raise errors.Forbidden(f"The client certificate is not the current certificate of site '{site}' "
                                       "(renewed at the same time by another request).")
            models.RevokedCertificate.create(cert_serial=old_serial, site=row.name, revoked_at=utcnow())
            row = models.Site.get_by_id(row.id)
        return {"site": self.render(row), "certificate": cert_pem, "ca_certificate": self.ca.cert_pem,
                "expires_at": _iso(cert.not_valid_after_utc.replace(tzinfo=None))}

    # --- reports --------------------------------------------------------------------------------------
    def authorize_site(self, site: str, peer: dict | None) -> models.Site:
        """The site row, if the verified client certificate `peer` is the one issued to `site` and not revoked."""
        if not peer:
            raise errors.Unauthorized("A site reports with the client certificate it received at enrolment; "
                                      "none was presented.")
        cn = _common_name(peer)
        try:
            serial = int(str(peer.get("serialNumber", "")), 16)
        except ValueError:
            raise errors.Unauthorized("The client certificate has no serial number.") from None
        if cn != site_common_name(site):
            raise errors.Forbidden(f"The client certificate names '{cn}', not site '{site}'.")
        row = models.Site.get_or_none(models.Site.name == site)
        if row is not None and row.decommissioned_at is not None and int(row.cert_serial, 16) == serial:
            # checked before the revocation it implies: the site reads this answer and leaves the fleet
            raise errors.Forbidden(f"Site '{site}' {DECOMMISSIONED} at {_iso(row.decommissioned_at)}; it is "
                                   "no longer part of the fleet.")
        if models.RevokedCertificate.get_or_none(models.RevokedCertificate.cert_serial == format(serial, "x")):
            raise errors.Forbidden(f"The certificate of site '{site}' was revoked on this hub; enrol again.")
        if row is None or int(row.cert_serial, 16) != serial:
            raise errors.Forbidden(f"The client certificate is not the current certificate of site '{site}'.")
        return row

    def report(self, site: str, peer: dict | None, health: dict, inventory: dict | None) -> dict:
        with models.database.atomic():
            row = self.authorize_site(site, peer)
            row.last_seen = utcnow()
            row.health = health
            if inventory is not None:
                row.inventory = inventory
                row.version = _reported_version(inventory.get("version")) or row.version
            row.report_count += 1
            row.save()
        return {"site": self.render(row), "next_report_in": self.report_interval}

    # --- sites ----------------------------------------------------------------------------------------
    def get(self, name: str) -> models.Site:
        # a name no site can have is not looked up: PostgreSQL refuses some strings (NUL) with an error, not a miss
        row = models.Site.get_or_none(models.Site.name == name) if valid_name(name) else None
        if row is None:
            raise errors.NotFound(f"Could not find site: {str(name)[:80]}.")
        return row

    def list(self, region: str | None = None, status: str | None = None,
             selector: dict | None = None) -> list[models.Site]:
        """The sites, narrowed by region, status and a label selector (every pair must match)."""
        if status is not None and status not in STATUSES:
            raise errors.BadRequest(f"Invalid input for field 'status': {str(status)[:80]!r} is not one of "
                                    f"{', '.join(STATUSES)}.")
        if region is not None and not _valid_region(region):
            raise errors.BadRequest(f"Invalid input for field 'region': {str(region)[:80]!r} is not a region.")
        query = models.Site.select().order_by(models.Site.name)
        if region is not None:
            query = query.where(models.Site.region == region)
        now = utcnow()
        return [row for row in query if labels.matches(row.labels or {}, selector or {})
                and (status is None or self.status(row, now) == status)]

    def update_site(self, name: str, changes: dict) -> models.Site:
        """Replace the site's labels (the whole map) and/or set its region; all checked before anything changes."""
        if "labels" in changes:
            labels.check(changes["labels"], "site/labels")
        if "region" in changes and not _valid_region(changes["region"]):
            raise errors.BadRequest("Invalid input for field 'site/region': up to 255 characters of A-Z a-z 0-9 . _ -"
                                    " beginning and ending alphanumeric, or empty.")
        with models.database.atomic():
            row = self.get(name)
            if "labels" in changes:
                row.labels = dict(changes["labels"])
            if "region" in changes:
                row.region = changes["region"]
            row.save()
        return row

    def decommission(self, name: str) -> models.Site:
        """Revoke the site's certificate but keep its row (status decommissioned); again is a no-op."""
        with models.database.atomic():
            row = self.get(name)
            if row.decommissioned_at is None:
                self._revoke_certificate(row)
                row.decommissioned_at = utcnow()
                row.save()
        return row

    def revoke(self, name: str) -> None:
        """Forget the site; its certificate is refused from now on (even before it expires)."""
        with models.database.atomic():
            row = self.get(name)
            self._revoke_certificate(row)
            row.delete_instance()

    @staticmethod
    def _revoke_certificate(row: models.Site) -> None:
        # a decommissioned site's certificate is revoked already; DELETE after decommission must not collide
        if models.RevokedCertificate.get_or_none(models.RevokedCertificate.cert_serial == row.cert_serial) is None:
            models.RevokedCertificate.create(cert_serial=row.cert_serial, site=row.name, revoked_at=utcnow())

    def status(self, row: models.Site, now: datetime.datetime | None = None) -> str:
        if row.decommissioned_at is not None:
            return "decommissioned"
        if row.last_seen is None:
            return "enrolled"
        now = now or utcnow()
        if (now - row.last_seen).total_seconds() > 3 * self.report_interval:
            return "offline"
        return "degraded" if not all((row.health or {}).values()) else "online"

    def contacts(self) -> list[tuple[str, str, float | None]]:
        """(name, status, seconds since the last report or None) per site, for the per-site gauges."""
        now = utcnow()
        return [(row.name, self.status(row, now),
                 (now - row.last_seen).total_seconds() if row.last_seen else None)
                for row in models.Site.select().order_by(models.Site.name)]

    def render(self, row: models.Site) -> dict:
        return {"id": row.id, "name": row.name, "status": self.status(row), "region": row.region,
                "labels": row.labels or {}, "version": row.version, "enrolled_at": _iso(row.enrolled_at),
                "last_seen": _iso(row.last_seen), "last_contact": _iso(row.last_seen),
                "decommissioned_at": _iso(row.decommissioned_at), "report_count": row.report_count,
                "certificate_fingerprint": row.cert_fingerprint, "info": row.info, "health": row.health,
                "inventory": row.inventory}


def _load_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError:
        raise errors.BadRequest("Invalid input for field 'csr': not a PEM certificate signing request.") from None
    if not csr.is_signature_valid:
        raise errors.BadRequest("Invalid input for field 'csr': the request's signature is invalid.")
    return csr


def _valid_region(value) -> bool:
    return isinstance(value, str) and (value == "" or bool(_REGION.fullmatch(value)))


_REGION = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,253}[A-Za-z0-9])?")


def _reported_region(value) -> str:
    """What a site says its region is, if it is a valid region (a report is not refused for a bad one)."""
    return value if _valid_region(value) else ""


def _reported_version(value) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable() else None


def _common_name(peer: dict) -> str | None:
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None
