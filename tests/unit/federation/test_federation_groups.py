"""Site groups (issue 16): a label selector with rollout limits, and the sites it matches now."""
from __future__ import annotations

import pytest

from tests.unit.federation.conftest import snapshot


def create(client, admin, **fields):
    return client.post("/v1/site-groups", json={"site_group": fields}, headers=admin)


def label(client, admin, name, labels):
    resp = client.patch(f"/v1/sites/{name}", json={"site": {"labels": labels}}, headers=admin)
    assert resp.status_code == 200, resp.json


def test_crud_and_members(client, admin, enrolled):
    for name, tier in (("edge-1", "gold"), ("edge-2", "silver"), ("edge-3", "gold")):
        enrolled(name)
        label(client, admin, name, {"tier": tier})
    resp = create(client, admin, name="gold", selector={"tier": "gold"}, max_parallel=2, max_failures=1)
    assert resp.status_code == 201, resp.json
    group = resp.json["site_group"]
    assert group["name"] == "gold" and group["selector"] == {"tier": "gold"}
    assert group["max_parallel"] == 2 and group["max_failures"] == 1 and group["sites"] == ["edge-1", "edge-3"]
    # defaults: one site at a time, no failure tolerated
    resp = create(client, admin, name="all", selector={})
    assert resp.json["site_group"]["max_parallel"] == 1 and resp.json["site_group"]["max_failures"] == 0
    assert resp.json["site_group"]["sites"] == ["edge-1", "edge-2", "edge-3"]
    assert [g["name"] for g in client.get("/v1/site-groups", headers=admin).json["site_groups"]] == ["all", "gold"]
    # membership is computed now: relabel a site, decommission another
    label(client, admin, "edge-2", {"tier": "gold"})
    client.post("/v1/sites/edge-1/decommission", headers=admin)
    assert client.get("/v1/site-groups/gold", headers=admin).json["site_group"]["sites"] == ["edge-2", "edge-3"]
    resp = client.patch("/v1/site-groups/gold", json={"site_group": {"selector": {"tier": "silver"},
                                                                       "max_parallel": 5}}, headers=admin)
    assert resp.status_code == 200, resp.json
    assert resp.json["site_group"]["selector"] == {"tier": "silver"} and resp.json["site_group"]["max_parallel"] == 5
    assert resp.json["site_group"]["max_failures"] == 1 and resp.json["site_group"]["sites"] == []
    assert client.delete("/v1/site-groups/gold", headers=admin).status_code == 204
    assert client.get("/v1/site-groups/gold", headers=admin).status_code == 404
    assert client.delete("/v1/site-groups/gold", headers=admin).status_code == 404
    assert client.patch("/v1/site-groups/gold", json={"site_group": {}}, headers=admin).status_code == 404


def test_duplicate_name_conflicts(client, admin):
    assert create(client, admin, name="g", selector={}).status_code == 201
    before = snapshot()
    resp = create(client, admin, name="g", selector={"a": "b"})
    assert resp.status_code == 409 and "'g'" in resp.json["error"]["message"]
    assert snapshot() == before


@pytest.mark.parametrize("fields, field", [
    ({"name": "Bad_Name", "selector": {}}, "site_group/name"),
    ({"name": "x" * 64, "selector": {}}, "site_group/name"),
    ({"name": "g'; DROP TABLE site_group; --", "selector": {}}, "site_group/name"),
    ({"name": "gé", "selector": {}}, "site_group/name"),
    ({"name": 5, "selector": {}}, "site_group/name"),
    ({"selector": {}}, "site_group/name"),
    ({"name": "g"}, "site_group/selector"),
    ({"name": "g", "selector": {"-k": "v"}}, "site_group/selector"),
    ({"name": "g", "selector": {"k": 1}}, "site_group/selector/k"),
    ({"name": "g", "selector": {f"k{i}": "v" for i in range(65)}}, "site_group/selector"),
    ({"name": "g", "selector": [], "max_parallel": 1}, "site_group/selector"),
    ({"name": "g", "selector": {}, "max_parallel": 0}, "site_group/max_parallel"),
    ({"name": "g", "selector": {}, "max_parallel": "2"}, "site_group/max_parallel"),
    ({"name": "g", "selector": {}, "max_parallel": 1.5}, "site_group/max_parallel"),
    ({"name": "g", "selector": {}, "max_parallel": True}, "site_group/max_parallel"),
    ({"name": "g", "selector": {}, "max_failures": -1}, "site_group/max_failures"),
    ({"name": "g", "selector": {}, "max_failures": 10 ** 30}, "site_group/max_failures"),
    ({"name": "g", "selector": {}, "extra": 1}, "site_group"),
])
def test_bad_groups_are_400_naming_the_field(client, admin, fields, field):
    before = snapshot()
    resp = create(client, admin, **fields)
    assert resp.status_code == 400, resp.json
    assert f"field '{field}'" in resp.json["error"]["message"], resp.json
    assert snapshot() == before


@pytest.mark.parametrize("fields, field", [
    ({"name": "other"}, "site_group"),
    ({"max_parallel": 0}, "site_group/max_parallel"),
    ({"selector": {"k": ["v"]}}, "site_group/selector/k"),
    ({"selector": None}, "site_group/selector"),
])
def test_bad_group_updates_change_nothing(client, admin, fields, field):
    create(client, admin, name="g", selector={"a": "b"})
    before = snapshot()
    resp = client.patch("/v1/site-groups/g", json={"site_group": fields}, headers=admin)
    assert resp.status_code == 400 and f"field '{field}'" in resp.json["error"]["message"], resp.json
    assert snapshot() == before


def test_the_manager_checks_groups_itself(app):
    from appliance import errors
    from services.federation import models
    manager = app.extensions["egret.manager"]
    models.database.connect(reuse_if_open=True)
    for fields, field in (({"name": "g", "selector": {"k\n": "v"}}, "site_group/selector"),
                          ({"name": "g\n", "selector": {}}, "site_group/name"),
                          ({"name": "g", "selector": {}, "max_parallel": True}, "site_group/max_parallel")):
        with pytest.raises(errors.BadRequest, match=field):
            manager.create_group(fields)
    assert models.SiteGroup.select().count() == 0
