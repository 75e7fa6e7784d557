"""HTTP clients between services: service-user tokens from identity, and calls on a user's behalf."""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

from appliance.config import Settings
from appliance.pki import verify_arg

log = logging.getLogger(__name__)


class ClientError(Exception):
    """Another service answered with an error status."""

    def __init__(self, status: int, body, url: str):
        super().__init__(f"{url} answered {status}: {body}")
        self.status = status
        self.body = body
        self.url = url


def service_credentials_path(settings: Settings, service: str) -> Path:
    return settings.state_dir / "secrets" / f"{service}-service-user.json"


def write_service_credentials(settings: Settings, service: str, creds: dict) -> Path:
    path = service_credentials_path(settings, service)
    # the state dir's group (egret on the box, inherited through its setgid bit), like the token keys: each service
    # user reads its own credentials (the wizard that writes them at setup is root), and compute or network
    # creates the metadata proxy's shared secret here
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o770)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return path


class ServiceClient:
    """Calls other Egret services; authenticates as this service's own user (never logs secrets)."""

    # how close to expiry a cached service token is renewed
    RENEW_MARGIN = 120

    def __init__(self, settings: Settings, service: str, timeout: float = 30.0):
        self.settings = settings
        self.service = service
        self.timeout = timeout
        self.http = requests.Session()
        # [tls] enabled: the other units serve the box's certificate; trust exactly the box's CA for them. Passed
        # with every request: requests lets REQUESTS_CA_BUNDLE in the environment override a Session's verify
        self.verify = verify_arg(settings)
        self._token = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def endpoint(self, target: str) -> str:
        base = self.settings.section("endpoints").get(target)
        return base.rstrip("/") if base else self.settings.url(target)

    def service_token(self) -> str:
        with self._lock:
            if self._token and time.time() < self._token_expires - self.RENEW_MARGIN:
                return self._token
            creds = json.loads(service_credentials_path(self.settings, self.service).read_text())
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": creds["username"], "domain": {"id": "default"}, "password": creds["password"]}}},
                "scope": {"project": {"name": creds.get("project", "service"), "domain": {"id": "default"}}}}}
            resp = self.http.post(self.endpoint("identity") + "/v3/auth/tokens?nocatalog", json=body,
                                  timeout=self.timeout, verify=self.verify)
            if resp.status_code != 201:
                raise ClientError(resp.status_code, _body(resp), "identity /v3/auth/tokens")
            self._token = resp.headers["X-Subject-Token"]
            expires = resp.json()["token"]["expires_at"]
            self._token_expires = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
            return self._token

    def request(self, target: str, method: str, path: str, *, token: str | None = None,
                expected=(200, 201, 202, 204), headers=None, **kwargs):
        """Call `target` (identity, image, volume, network, compute, s3); `token` acts as that user."""
        url = self.endpoint(target) + path
        hdrs = {"X-Auth-Token": token or self.service_token(), "Accept": "application/json"}
        hdrs.update(headers or {})
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.verify)
        resp = self.http.request(method, url, headers=hdrs, **kwargs)
        if resp.status_code == 401 and token is None:
            # our cached service token may have been revoked; one fresh try
            self._token = None
            hdrs["X-Auth-Token"] = self.service_token()
            resp = self.http.request(method, url, headers=hdrs, **kwargs)
        if expected and resp.status_code not in expected:
            raise ClientError(resp.status_code, _body(resp), f"{target} {method} {path}")
        return resp

    def get_json(self, target: str, path: str, **kwargs):
        return self.request(target, "GET", path, **kwargs).json()


def _body(resp):
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500]
