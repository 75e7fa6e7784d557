"""Where a volume lives (os-vol-host-attr:host, connection_info's node): admins and compute see it, members never."""
from __future__ import annotations

import pytest

from appliance import pki
from tests.unit.storage.storage_testlib import B, V, create

MV = {"OpenStack-API-Version": "volume 3.44"}
HOST = "os-vol-host-attr:host"


@pytest.fixture
def service(mint_token):
    return {"X-Auth-Token": mint_token(user_id="nova", project_id="service", roles=["service", "member", "reader"],
                                       is_service=True)}


def _show(client, h, vol_id, base=V):
    return client.get(f"{base}/volumes/{vol_id}", headers=h)


def test_admin_and_service_see_the_node_as_cinder_spells_it(volume_client, tokens, service, settings, mint_token):
    vol = create(volume_client, tokens["alice"])
    expected = f"{pki.node_name(settings)}@file#file"
    assert _show(volume_client, tokens["admin"], vol["id"]).json["volume"][HOST] == expected
    # compute's service user (admin and service roles, as bootstrap makes it) reads any project's volume
    r = _show(volume_client, {"X-Auth-Token": mint_token(user_id="nova", project_id="service",
                                                          roles=["admin", "service"], is_service=True)}, vol["id"])
    assert r.status_code == 200 and r.json["volume"][HOST] == expected
    # the service role alone is enough for the attribute (its own project's volume here)
    own = create(volume_client, service, base="/v3/service")
    assert _show(volume_client, service, own["id"], base="/v3/service").json["volume"][HOST] == expected
    listed = volume_client.get(f"{V}/volumes/detail?all_tenants=1", headers=tokens["admin"]).json["volumes"]
    assert [v[HOST] for v in listed if v["id"] == vol["id"]] == [expected]


def test_a_member_never_sees_where_a_volume_lives(volume_client, tokens):
    vol = create(volume_client, tokens["alice"])
    assert HOST not in vol   # the create's answer too
    for who in ("alice", "reader"):
        assert HOST not in _show(volume_client, tokens[who], vol["id"]).json["volume"]
    listed = volume_client.get(f"{V}/volumes/detail", headers=tokens["alice"]).json["volumes"]
    assert listed and all(HOST not in v for v in listed)


def test_another_projects_member_cannot_learn_the_host(volume_client, tokens):
    vol = create(volume_client, tokens["alice"])
    r = _show(volume_client, tokens["bob"], vol["id"], base=B)
    assert r.status_code == 404 and vol["id"] not in r.get_data(as_text=True).replace(f"Volume {vol['id']}", "")
    assert HOST not in r.get_data(as_text=True)
    # nor through a path that names alice's project
    r = _show(volume_client, tokens["bob"], vol["id"])
    assert r.status_code in (403, 404) and HOST not in r.get_data(as_text=True)
    listed = volume_client.get(f"{B}/volumes/detail?all_tenants=1", headers=tokens["bob"]).json["volumes"]
    assert all(v["id"] != vol["id"] and HOST not in v for v in listed)


def test_connection_info_names_the_node(volume_client, tokens, settings):
    h = tokens["alice"]
    vol = create(volume_client, h)
    body = {"attachment": {"volume_uuid": vol["id"], "instance_uuid": "i-1", "connector": {"host": "beta"}}}
    att = volume_client.post(f"{V}/attachments", json=body, headers={**h, **MV}).json["attachment"]
    assert att["connection_info"]["data"]["node"] == pki.node_name(settings)
    assert att["connection_info"]["data"]["path"].endswith(f"volume-{vol['id']}")
    # the legacy os-initialize_connection says the same
    other = create(volume_client, h)
    r = volume_client.post(f"{V}/volumes/{other['id']}/action",
                           json={"os-initialize_connection": {"connector": {"host": "beta"}}}, headers=h)
    assert r.json["connection_info"]["data"]["node"] == pki.node_name(settings)


def test_the_node_name_is_the_cluster_setting(volume_client, tokens, settings, monkeypatch):
    """A box named in its site ([service.cluster] node_name) is that name, not its hostname."""
    monkeypatch.setattr(pki, "node_name", lambda s: "alpha")
    vol = create(volume_client, tokens["alice"])
    assert _show(volume_client, tokens["admin"], vol["id"]).json["volume"][HOST] == "alpha@file#file"
