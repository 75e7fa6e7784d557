"""egret bootstrap for identity: idempotent, catalog URL shapes, refresh, service users and their secrets."""
from __future__ import annotations

import json

import pytest

from appliance.clients import service_credentials_path
from appliance.manifest import Unit
from appliance.testing.plugin import make_settings
from services.identity import bootstrap as ib


def _unit(name, ports, after=("identity",)):
    return Unit(name=name, service=name, description=name, app=f"services.{name}:create_app()", ports=ports,
                user="egret-" + name, after=after)


FULL = {"identity": _unit("identity", ("identity",), ()), "storage": _unit("storage", ("volume", "image", "s3")),
        "network": _unit("network", ("network",)), "compute": _unit("compute", ("compute", "metadata"))}


@pytest.fixture
def full_manifest(monkeypatch):
    monkeypatch.setattr(ib, "load_manifest", lambda: dict(FULL))


def _catalog(settings):
    from services.identity.manager import Manager
    db = ib._open(settings)
    try:
        return {s["type"]: s for s in Manager(settings).catalog.document("PID")}
    finally:
        db.close()


def test_fresh_state_without_password_is_a_clear_error(tmp_path):
    settings = make_settings(tmp_path / "s")
    assert ib.is_bootstrapped(settings) is False
    with pytest.raises(ib.BootstrapError, match="EGRET_ADMIN_PASSWORD"):
        ib.bootstrap(settings, None)
    assert ib.is_bootstrapped(settings) is False


def test_full_catalog_shapes_and_service_users(tmp_path, full_manifest):
    settings = make_settings(tmp_path / "s", ports={"identity": 5001, "compute": 8775, "network": 9697,
                                                     "image": 9293, "volume": 8777, "s3": 8081})
    report = ib.bootstrap(settings, "Admin-Pass-1")
    assert report["admin_created"] and sorted(report["service_users"]) == ["compute", "network", "storage"]
    cat = _catalog(settings)
    assert set(cat) == {"identity", "compute", "network", "image", "block-storage", "volumev3", "object-store"}
    urls = {t: {e["interface"]: e["url"] for e in s["endpoints"]} for t, s in cat.items()}
    for t in urls:
        assert set(urls[t]) == {"public", "internal", "admin"}
    assert urls["identity"]["public"] == "http://127.0.0.1:5001/v3/"
    assert urls["compute"]["public"] == "http://127.0.0.1:8775/v2.1"
    assert urls["network"]["public"] == "http://127.0.0.1:9697"
    assert urls["image"]["public"] == "http://127.0.0.1:9293"
    assert urls["block-storage"]["public"] == urls["volumev3"]["public"] == "http://127.0.0.1:8777/v3/PID"
    assert urls["object-store"]["public"] == "http://127.0.0.1:8081"
    for name in ("storage", "compute", "network"):
        creds = json.loads(service_credentials_path(settings, name).read_text())
        assert creds["username"] == name and creds["project"] == "service" and len(creds["password"]) >= 20
        # the service users share the state dir's group (the box's units run as distinct users; root writes
        # these at setup), nobody else reads them, and nobody but the writer changes them
        assert (service_credentials_path(settings, name).stat().st_mode & 0o777) == 0o640
        assert (service_credentials_path(settings, name).parent.stat().st_mode & 0o007) == 0


def test_rerun_refreshes_catalog_and_keeps_admin(tmp_path, full_manifest):
    from services.identity import create_app
    settings = make_settings(tmp_path / "s")
    ib.bootstrap(settings, "Admin-Pass-1")
    before = json.loads(service_credentials_path(settings, "storage").read_text())
    settings.enabled_services = ["identity", "network"]
    report = ib.bootstrap(settings, None)
    assert report["admin_created"] is False and report["service_users"] == ["network"]
    assert set(_catalog(settings)) == {"identity", "network"}
    settings.enabled_services = []
    ib.bootstrap(settings, None)
    assert "object-store" in _catalog(settings)
    assert json.loads(service_credentials_path(settings, "storage").read_text()) == before
    # the admin still logs in with the first password, and the service user with its stored one
    client = create_app(settings).test_client()
    for name, pw, project in (("admin", "Admin-Pass-1", "admin"), ("storage", before["password"], "service")):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": pw}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        resp = client.post("/v3/auth/tokens", json=body)
        assert resp.status_code == 201, resp.get_json()
        roles = {r["name"] for r in resp.get_json()["token"]["roles"]}
        assert roles >= ({"admin", "member", "reader"} | ({"service"} if name == "storage" else set()))


def test_lost_service_secret_is_regenerated(tmp_path, full_manifest):
    settings = make_settings(tmp_path / "s")
    ib.bootstrap(settings, "Admin-Pass-1")
    path = service_credentials_path(settings, "compute")
    old = json.loads(path.read_text())["password"]
    path.unlink()
    ib.bootstrap(settings, None)
    assert json.loads(path.read_text())["password"] != old


def test_admin_has_project_and_system_admin(tmp_path):
    from services.identity import models
    settings = make_settings(tmp_path / "s")
    ib.bootstrap(settings, "Admin-Pass-1")
    ib.bootstrap(settings, "Another-Pass")  # idempotent: the admin is never touched again
    db = ib._open(settings)
    try:
        admin = models.User.get((models.User.name == "admin"))
        targets = {(a.target_type, a.target_id) for a in models.Assignment.select().where(
            models.Assignment.actor_id == admin.id)}
        admin_project = models.Project.get(models.Project.name == "admin")
        assert targets == {("project", admin_project.id), ("system", "all")}
        assert models.Domain.get_by_id("default").name == "Default"
        assert {r.name for r in models.Role.select()} >= {"admin", "member", "reader", "service"}
        from services.identity import passwords
        assert passwords.check_secret("Admin-Pass-1", admin.password_hash)
        assert models.User.select().where(models.User.name == "admin").count() == 1
    finally:
        db.close()
    assert (settings.key_repository / "0").exists() and (settings.key_repository / "1").exists()
