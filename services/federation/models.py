"""Federation hub tables: enrolment tokens (secret hashes only), sites, revoked site certificates, site groups."""
from __future__ import annotations

import peewee

from appliance.db import JSONField, model_base

database = peewee.DatabaseProxy()
Base = model_base(database)


class EnrolmentToken(Base):
    # SHA-256 of the token's secret: a leaked database does not leak usable tokens
    secret_hash = peewee.CharField(max_length=64, unique=True)
    expires_at = peewee.DateTimeField()
    created_by = peewee.CharField(max_length=255, default="")
    used_at = peewee.DateTimeField(null=True)
    used_by = peewee.CharField(max_length=63, null=True)


class Site(Base):
    name = peewee.CharField(max_length=63, unique=True)
    enrolled_at = peewee.DateTimeField()
    last_seen = peewee.DateTimeField(null=True)
    # the serial (hex) of the certificate issued at enrolment: only that certificate may report for the site
    cert_serial = peewee.CharField(max_length=64)
    cert_fingerprint = peewee.CharField(max_length=80)
    info = JSONField(default=dict)
    health = JSONField(default=dict)
    inventory = JSONField(default=dict)
    report_count = peewee.IntegerField(default=0)
    # added by migration 0002 to existing rows, hence the SQL defaults (ADD COLUMN ... NOT NULL needs one)
    region = peewee.CharField(max_length=255, default="", constraints=[peewee.SQL("DEFAULT ''")])
    labels = JSONField(default=dict, constraints=[peewee.SQL("DEFAULT '{}'")])
    version = peewee.CharField(max_length=64, null=True)
    # set by decommission: the row stays (the fleet shows it), its certificate is revoked
    decommissioned_at = peewee.DateTimeField(null=True)


class RevokedCertificate(Base):
    cert_serial = peewee.CharField(max_length=64, unique=True)
    site = peewee.CharField(max_length=63)
    revoked_at = peewee.DateTimeField()


class SiteGroup(Base):
    name = peewee.CharField(max_length=63, unique=True)
    selector = JSONField(default=dict)  # label -> value; a site matches when it carries every pair
    max_parallel = peewee.IntegerField()
    max_failures = peewee.IntegerField()


ALL_MODELS = [EnrolmentToken, Site, RevokedCertificate, SiteGroup]
