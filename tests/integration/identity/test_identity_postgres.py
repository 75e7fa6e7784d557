"""The real egret CLI bootstraps and serves identity on a real PostgreSQL server (a site's control-plane DB)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _egret(args, env):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_bootstrap_migrate_and_auth_on_postgres(postgres_url, tmp_path):
    from appliance.testing.postgres import new_database
    url = new_database(postgres_url, "it")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EGRET_", "OS_"))}
    env.update(EGRET_STATE_DIR=str(tmp_path / "state"), EGRET_CONFIG_DIR=str(tmp_path / "etc"),
               EGRET_DATABASE_URL=url, EGRET_ENABLED_SERVICES="identity", EGRET_PASSWORD_HASH_LOG2N="12")
    fresh = _egret(["bootstrap"], env)
    assert fresh.returncode != 0 and "EGRET_ADMIN_PASSWORD" in (fresh.stderr + fresh.stdout)
    first = _egret(["bootstrap"], {**env, "EGRET_ADMIN_PASSWORD": "Pg-Admin-Pass-1"})
    assert first.returncode == 0, first.stderr
    assert "Bootstrapped" in first.stdout
    again = _egret(["bootstrap"], env)
    assert again.returncode == 0 and "Already bootstrapped" in again.stdout, again.stderr
    migrated = _egret(["migrate"], env)
    assert migrated.returncode == 0 and "identity: up to date" in migrated.stdout, migrated.stderr

    from appliance import config
    from services.identity import create_app
    settings = config.load(env=env)
    client = create_app(settings).test_client()
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "Pg-Admin-Pass-1"}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = client.post("/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.get_json()
    token = resp.headers["X-Subject-Token"]
    # one transaction per write: a failed duplicate leaves the connection usable
    for _ in range(2):
        r = client.post("/v3/projects", json={"project": {"name": "pg-p"}}, headers={"X-Auth-Token": token})
    assert r.status_code == 409
    assert client.get("/v3/projects?name=pg-p", headers={"X-Auth-Token": token}).get_json()["projects"]
    from services.identity import models
    models.database.close() if not models.database.is_closed() else None
