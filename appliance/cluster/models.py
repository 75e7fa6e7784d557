"""What the founding node of a site records: its nodes and the join tokens it issued."""
from __future__ import annotations

import peewee

from appliance.db import JSONField, model_base

database = peewee.DatabaseProxy()
BaseModel = model_base(database)


class Node(BaseModel):
    name = peewee.CharField(max_length=63, unique=True)
    address = peewee.CharField(max_length=255)
    cert_fingerprint = peewee.CharField(max_length=71)
    founder = peewee.BooleanField(default=False)
    last_seen = peewee.DateTimeField(null=True)
    health = JSONField(default=dict)
    version = peewee.CharField(max_length=32, null=True)  # the Egret release it last said it runs
    confirmed_at = peewee.DateTimeField(null=True)  # its first heartbeat: from then on its join cannot be undone


class JoinToken(BaseModel):
    # only a digest of the secret is kept: a stolen database cannot be used to join
    secret_sha256 = peewee.CharField(max_length=64, unique=True)
    expires_at = peewee.DateTimeField()
    used_at = peewee.DateTimeField(null=True)
    used_by = peewee.CharField(max_length=63, null=True)


ALL = [Node, JoinToken]
