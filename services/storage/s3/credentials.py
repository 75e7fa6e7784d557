"""Where S3 access keys come from: identity's EC2 credentials (cached briefly), or a fake for unit tests."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass

from appliance.clients import ServiceClient


@dataclass(frozen=True)
class Credential:
    access: str
    secret: str
    project_id: str
    user_id: str | None = None
    # the key's user's roles on its project: a reader's key reads and does not write
    roles: tuple[str, ...] = ("member", "reader")

    @property
    def can_write(self) -> bool:
        return bool({r.lower() for r in self.roles} & {"member", "admin"})


class CredentialStore:
    """lookup(access_key) -> Credential, or None when the key is unknown."""

    def lookup(self, access: str) -> Credential | None:  # pragma: no cover - interface
        raise NotImplementedError


class FakeCredentials(CredentialStore):
    def __init__(self, *creds: Credential):
        self.creds = {c.access: c for c in creds}
        self.lookups = 0

    def add(self, cred: Credential) -> None:
        self.creds[cred.access] = cred

    def lookup(self, access):
        self.lookups += 1
        return self.creds.get(access)


class IdentityCredentials(CredentialStore):
    """GET /v3/credentials/<sha256(access)> with this service's own token (Keystone's EC2 id scheme)."""

    TTL = 10.0  # a deleted credential stops working within this many seconds

    def __init__(self, settings, client=None):
        self.settings = settings
        self._client = client
        self.cache: dict[str, tuple[float, Credential | None]] = {}
        self.lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            self._client = ServiceClient(self.settings, "storage", timeout=10)
        return self._client

    def lookup(self, access):
        now = time.monotonic()
        with self.lock:
            hit = self.cache.get(access)
            if hit and now - hit[0] < self.TTL:
                return hit[1]
        cred = self._fetch(access)
        with self.lock:
            if len(self.cache) > 10000:
                self.cache.clear()
            self.cache[access] = (now, cred)
        return cred

    def _roles_held(self, user_id, project_id) -> tuple[str, ...]:
        """As Keystone's ec2tokens does: the key's user must be enabled and still hold a role on the project.

        Returns the names of those roles (none: the key is refused)."""
        if not user_id:
            return ()
        resp = self.client.request("identity", "GET", f"/v3/users/{user_id}", expected=(200, 404))
        if resp.status_code == 404 or not resp.json()["user"].get("enabled", True):
            return ()
        roles = self.client.request("identity", "GET", "/v3/role_assignments", params={
            "user.id": user_id, "scope.project.id": project_id, "effective": "",
            "include_names": ""}).json()["role_assignments"]
        return tuple(sorted({a["role"].get("name") or a["role"]["id"] for a in roles}))

    def _fetch(self, access):
        cred_id = hashlib.sha256(access.encode()).hexdigest()
        resp = self.client.request("identity", "GET", f"/v3/credentials/{cred_id}", expected=(200, 404))
        if resp.status_code == 404:
            return None
        doc = resp.json()["credential"]
        if doc.get("type") not in (None, "ec2"):
            return None
        blob = doc.get("blob")
        blob = json.loads(blob) if isinstance(blob, str) else (blob or {})
        if blob.get("access") != access or not blob.get("secret") or not doc.get("project_id"):
            return None
        roles = self._roles_held(doc.get("user_id"), doc["project_id"])
        if not roles:
            return None
        return Credential(access=access, secret=blob["secret"], project_id=doc["project_id"],
                          user_id=doc.get("user_id"), roles=roles)
