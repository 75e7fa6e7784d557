"""The fleet API of the hub (issue 16): region, labels, version, statuses, PATCH, decommission, filters, metrics."""
from __future__ import annotations

import datetime
import json

import pytest

from services.federation import models
from tests.unit.federation.conftest import peer, snapshot


@pytest.fixture
def reader(mint_token):
    return {"X-Auth-Token": mint_token(roles=["reader"], system="all")}


@pytest.fixture
def unscoped(mint_token):
    return {"X-Auth-Token": mint_token(project_id=None, roles=[])}


def report(client, name, cert, health=None, inventory=None):
    body = {"health": {"identity": True} if health is None else health}
    if inventory is not None:
        body["inventory"] = inventory
    return client.post(f"/v1/sites/{name}/reports", json=body, environ_overrides=peer(cert))


def test_a_site_carries_region_labels_version_and_last_contact(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1", info={"region": "eu-west", "version": "0.1.0", "hostname": "b"})
    site = client.get(f"/v1/sites/{name}", headers=admin).json["site"]
    assert site["region"] == "eu-west" and site["labels"] == {} and site["version"] == "0.1.0"
    assert site["status"] == "enrolled" and site["last_contact"] is None and site["decommissioned_at"] is None
    assert report(client, name, cert, inventory={"version": "0.2.0"}).status_code == 200
    site = client.get(f"/v1/sites/{name}", headers=admin).json["site"]
    assert site["version"] == "0.2.0" and site["status"] == "online"
    assert datetime.datetime.strptime(site["last_contact"], "%Y-%m-%dT%H:%M:%SZ")
    # a report without a version, or with a nonsense one, keeps the last known release (and is not refused)
    assert report(client, name, cert, inventory={"version": {"x": 1}}).status_code == 200
    assert report(client, name, cert, inventory={"version": "v" * 65}).status_code == 200
    assert client.get(f"/v1/sites/{name}", headers=admin).json["site"]["version"] == "0.2.0"


def test_an_invalid_region_in_the_enrolment_info_is_ignored(client, admin, enrolled):
    name, _, _ = enrolled("edge-1", info={"region": "'; DROP TABLE site; --", "version": 7})
    site = client.get(f"/v1/sites/{name}", headers=admin).json["site"]
    assert site["region"] == "" and site["version"] is None


def test_statuses(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1")
    assert report(client, name, cert, health={"identity": True, "compute": False}).json["site"]["status"] == \
        "degraded"
    assert report(client, name, cert, health={"identity": True}).json["site"]["status"] == "online"
    models.database.connect(reuse_if_open=True)
    models.Site.update(last_seen=datetime.datetime.utcnow() - datetime.timedelta(seconds=181)).execute()
    assert client.get(f"/v1/sites/{name}", headers=admin).json["site"]["status"] == "offline"


def test_patch_replaces_labels_and_sets_region(client, admin, enrolled):
    name, _, _ = enrolled("edge-1")
    resp = client.patch(f"/v1/sites/{name}", json={"site": {"labels": {"tier": "gold", "example.com/rack": "r1"},
                                                             "region": "eu-west"}}, headers=admin)
    assert resp.status_code == 200, resp.json
    assert resp.json["site"]["labels"] == {"tier": "gold", "example.com/rack": "r1"}
    assert resp.json["site"]["region"] == "eu-west"
    resp = client.patch(f"/v1/sites/{name}", json={"site": {"labels": {"tier": ""}}}, headers=admin)
    assert resp.json["site"]["labels"] == {"tier": ""} and resp.json["site"]["region"] == "eu-west"
    resp = client.patch(f"/v1/sites/{name}", json={"site": {"region": ""}}, headers=admin)
    assert resp.json["site"]["region"] == "" and resp.json["site"]["labels"] == {"tier": ""}
    assert client.patch("/v1/sites/nowhere", json={"site": {"region": "x"}}, headers=admin).status_code == 404
    for hostile_name in ("%27%3B%20DROP%20TABLE%20site%3B%20--", "edge-1%00", "%C3%A9dge", "x" * 2000):
        resp = client.patch(f"/v1/sites/{hostile_name}", json={"site": {"region": "x"}}, headers=admin)
        assert resp.status_code == 404, resp.json
        assert client.post(f"/v1/sites/{hostile_name}/decommission", headers=admin).status_code == 404
        assert client.get(f"/v1/site-groups/{hostile_name}", headers=admin).status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"site": {"labels": {"-bad": "x"}}}, "site/labels"),
    ({"site": {"labels": {"bad-": "x"}}}, "site/labels"),
    ({"site": {"labels": {"k" * 64: "x"}}}, "site/labels"),
    ({"site": {"labels": {"Bad_Prefix.com/k": "x"}}}, "site/labels"),
    ({"site": {"labels": {"a/b/c": "x"}}}, "site/labels"),
    ({"site": {"labels": {"": "x"}}}, "site/labels"),
    ({"site": {"labels": {"k\n": "x"}}}, "site/labels"),
    ({"site": {"labels": {"k": "v\n"}}}, "site/labels/k"),
    ({"site": {"labels": {"ключ": "x"}}}, "site/labels"),
    ({"site": {"labels": {"k": "значение"}}}, "site/labels/k"),
    ({"site": {"labels": {"k": "v" * 64}}}, "site/labels/k"),
    ({"site": {"labels": {"k": 1}}}, "site/labels/k"),
    ({"site": {"labels": {"k": None}}}, "site/labels/k"),
    ({"site": {"labels": {"k": ["v"]}}}, "site/labels/k"),
    ({"site": {"labels": {"k": "-v"}}}, "site/labels/k"),
    ({"site": {"labels": {f"k{i}": "v" for i in range(65)}}}, "site/labels"),
    ({"site": {"labels": {f"k{i}": "v" * 63 for i in range(5000)}}}, "site/labels"),
    ({"site": {"labels": ["tier=gold"]}}, "site/labels"),
    ({"site": {"labels": "tier=gold"}}, "site/labels"),
    ({"site": {"region": 5}}, "site/region"),
    ({"site": {"region": "eu west"}}, "site/region"),
    ({"site": {"region": "r" * 256}}, "site/region"),
    ({"site": {"region": "eu\n"}}, "site/region"),
    ({"site": {"name": "other"}}, "site"),
    ({"site": {}}, "site"),
    ({"site": None}, "site"),
    ({"labels": {}}, "site"),
    ({}, "site"),
])
def test_bad_patch_is_400_naming_the_field_and_changes_nothing(client, admin, enrolled, body, field):
    name, _, _ = enrolled("edge-1")
    client.patch(f"/v1/sites/{name}", json={"site": {"labels": {"keep": "me"}}}, headers=admin)
    before = snapshot()
    resp = client.patch(f"/v1/sites/{name}", json=body, headers=admin)
    assert resp.status_code == 400, resp.json
    assert f"field '{field}'" in resp.json["error"]["message"], resp.json
    assert snapshot() == before


def test_the_manager_checks_labels_itself(app, enrolled):
    """The CLI reaches the manager without the API's schema: its own checks refuse what the schema would."""
    from appliance import errors
    enrolled("edge-1")
    manager = app.extensions["egret.manager"]
    models.database.connect(reuse_if_open=True)
    before = snapshot()
    for labels in ({"k\n": "v"}, {"k": "v\n"}, {"k": 1}, {("x" * 300) + "/k": "v"}, "x"):
        with pytest.raises(errors.BadRequest, match="site/labels"):
            manager.update_site("edge-1", {"labels": labels})
    with pytest.raises(errors.BadRequest, match="site/region"):
        manager.update_site("edge-1", {"region": "a b"})
    assert snapshot() == before


def test_filters(client, admin, enrolled):
    for name, region, labels in (("edge-1", "eu", {"tier": "gold", "env": "prod"}),
                                 ("edge-2", "eu", {"tier": "silver", "env": "prod"}),
                                 ("edge-3", "us", {"tier": "gold"})):
        enrolled(name)
        client.patch(f"/v1/sites/{name}", json={"site": {"labels": labels, "region": region}}, headers=admin)

    def names(query):
        resp = client.get(f"/v1/sites{query}", headers=admin)
        assert resp.status_code == 200, resp.json
        return [s["name"] for s in resp.json["sites"]]

    assert names("") == ["edge-1", "edge-2", "edge-3"]
    assert names("?region=eu") == ["edge-1", "edge-2"]
    assert names("?label=tier=gold") == ["edge-1", "edge-3"]
    assert names("?label=tier=gold&label=env=prod") == ["edge-1"]
    assert names("?label=tier=gold&region=us") == ["edge-3"]
    assert names("?status=enrolled") == ["edge-1", "edge-2", "edge-3"]
    assert names("?status=online") == []
    assert names("?region=asia") == []
    for query, field in (("?status=sideways", "status"), ("?region=%27%20OR%201%3D1%20--", "region"),
                         ("?region=eu%00", "region"), ("?label=k%00=v", "label"), ("?status=%00", "status"),
                         ("?label=tier", "label"), ("?label=-x=y", "label"),
                         ("?label=k=%0A", "label")):
        resp = client.get(f"/v1/sites{query}", headers=admin)
        assert resp.status_code == 400 and f"field '{field}" in resp.json["error"]["message"], resp.json


def test_decommission_keeps_the_row_and_refuses_the_site_distinctly(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1")
    report(client, name, cert)
    resp = client.post(f"/v1/sites/{name}/decommission", headers=admin)
    assert resp.status_code == 200, resp.json
    assert resp.json["site"]["status"] == "decommissioned" and resp.json["site"]["decommissioned_at"]
    assert [s["status"] for s in client.get("/v1/sites", headers=admin).json["sites"]] == ["decommissioned"]
    assert [s["name"] for s in client.get("/v1/sites?status=decommissioned", headers=admin).json["sites"]] == \
        [name]
    before = snapshot()
    resp = report(client, name, cert)
    assert resp.status_code == 403
    assert resp.json["error"]["message"].startswith("Site 'edge-1' was decommissioned by this hub at ")
    assert snapshot() == before
    # again: nothing more to do
    assert client.post(f"/v1/sites/{name}/decommission", headers=admin).json["site"]["status"] == "decommissioned"
    assert snapshot() == before
    # DELETE keeps its meaning (forget the site) after a decommission, and the certificate stays refused
    assert client.delete(f"/v1/sites/{name}", headers=admin).status_code == 204
    resp = report(client, name, cert)
    assert resp.status_code == 403 and "revoked" in resp.json["error"]["message"]
    assert client.post("/v1/sites/nowhere/decommission", headers=admin).status_code == 404


def test_decommission_is_not_claimed_by_another_sites_certificate(client, admin, enrolled):
    name, _, _ = enrolled("edge-1")
    _, other_cert, _ = enrolled("edge-2")
    client.post(f"/v1/sites/{name}/decommission", headers=admin)
    resp = report(client, name, other_cert)
    assert resp.status_code == 403 and "decommissioned" not in resp.json["error"]["message"]


def test_metrics_per_site(client, admin, enrolled):
    name, cert, _ = enrolled("edge-1")
    enrolled("edge-2")
    name3, cert3, _ = enrolled("edge-3")
    report(client, name, cert, health={"identity": True, "compute": False})
    report(client, name3, cert3)
    client.post(f"/v1/sites/{name3}/decommission", headers=admin)
    text = client.get("/metrics").data.decode()
    assert 'egret_federation_site_up{site="edge-1"} 1.0' in text  # degraded counts as up
    assert 'egret_federation_site_up{site="edge-2"} 0.0' in text
    assert 'egret_federation_site_up{site="edge-3"} 0.0' in text
    assert 'egret_federation_site_last_contact_seconds{site="edge-1"}' in text
    assert 'egret_federation_site_last_contact_seconds{site="edge-2"}' not in text  # never reported
    assert 'egret_federation_sites{status="degraded"} 1.0' in text
    assert 'egret_federation_sites{status="decommissioned"} 1.0' in text
    models.database.connect(reuse_if_open=True)
    models.Site.update(last_seen=datetime.datetime.utcnow() - datetime.timedelta(seconds=500)).where(
        models.Site.name == "edge-1").execute()
    text = client.get("/metrics").data.decode()
    gauge = 'egret_federation_site_last_contact_seconds{site="edge-1"}'
    (line,) = [x for x in text.splitlines() if x.startswith(gauge)]
    assert 499 <= float(line.split()[-1]) < 520
    assert 'egret_federation_site_up{site="edge-1"} 0.0' in text


def test_non_admins_get_403_on_every_write_and_change_nothing(client, member, reader, unscoped, enrolled, admin):
    enrolled("edge-1")
    client.post("/v1/site-groups", json={"site_group": {"name": "g", "selector": {}}}, headers=admin)
    before = snapshot()
    writes = [("patch", "/v1/sites/edge-1", {"site": {"region": "x"}}),
              ("post", "/v1/sites/edge-1/decommission", None),
              ("delete", "/v1/sites/edge-1", None),
              ("post", "/v1/site-groups", {"site_group": {"name": "h", "selector": {}}}),
              ("patch", "/v1/site-groups/g", {"site_group": {"max_parallel": 3}}),
              ("delete", "/v1/site-groups/g", None)]
    for headers in (member, reader, unscoped):
        for method, path, body in writes:
            resp = getattr(client, method)(path, json=body, headers=headers)
            assert resp.status_code == 403, (method, path, resp.json)
        # a write to something that does not exist is 403 too: nothing is learnt from the answer
        assert client.patch("/v1/sites/nowhere", json={"site": {}}, headers=headers).status_code == 403
    for method, path, body in writes:
        assert getattr(client, method)(path, json=body).status_code == 401
    assert snapshot() == before


def test_readers(client, member, reader, unscoped, enrolled, admin):
    enrolled("edge-1")
    client.post("/v1/site-groups", json={"site_group": {"name": "g", "selector": {}}}, headers=admin)
    for path in ("/v1/sites", "/v1/sites/edge-1", "/v1/site-groups", "/v1/site-groups/g", "/v1/sites/nowhere",
                 "/v1/site-groups/nowhere"):
        assert client.get(path, headers=member).status_code == 403, path
        assert client.get(path, headers=unscoped).status_code == 403, path
        assert client.get(path).status_code == 401, path
    assert client.get("/v1/sites", headers=reader).json["sites"][0]["name"] == "edge-1"
    assert client.get("/v1/site-groups/g", headers=reader).json["site_group"]["sites"] == ["edge-1"]


def test_openapi_is_public_json(client):
    resp = client.get("/v1/openapi.json")
    assert resp.status_code == 200
    doc = json.loads(resp.data)
    assert doc["openapi"].startswith("3.") and doc["servers"][0]["url"].startswith("https://")
