"""Hostile bodies on every compute JSON route: never a 5xx, refusals in Nova's format, nothing changed; and the
named cases (deep nesting, lone surrogate, 10**30, NUL in names, unknown availability zone, non-boolean booleans)."""
import json

import pytest

from appliance.testing import hostile
from services.compute import models
from services.compute import schemas as s

# (method, path with {server} placeholder, wrapper, schema, a valid document, as admin)
ROUTES = [
    ("POST", "/v2.1/servers", "server", s.CREATE_SERVER, None, False),
    ("PUT", "/v2.1/servers/{server}", "server", s.UPDATE_SERVER, {"name": "renamed"}, False),
    ("POST", "/v2.1/servers/{server}/action", "reboot", s.ACTIONS["reboot"], {"type": "SOFT"}, False),
    ("POST", "/v2.1/servers/{server}/action", "createImage", s.ACTIONS["createImage"], {"name": "snap"}, False),
    ("POST", "/v2.1/servers/{server}/action", "os-getConsoleOutput", s.ACTIONS["os-getConsoleOutput"],
     {"length": 5}, False),
    ("POST", "/v2.1/servers/{server}/os-volume_attachments", "volumeAttachment", s.ATTACH_VOLUME,
     {"volumeId": "v-none"}, False),
    ("POST", "/v2.1/servers/{server}/os-interface", "interfaceAttachment", s.ATTACH_INTERFACE, {}, False),
    ("POST", "/v2.1/os-keypairs", "keypair", s.CREATE_KEYPAIR, {"name": "k"}, False),
    ("POST", "/v2.1/os-server-groups", "server_group", s.CREATE_GROUP, {"name": "g", "policy": "affinity"}, False),
    ("POST", "/v2.1/flavors", "flavor", s.CREATE_FLAVOR, {"name": "f", "ram": 64, "vcpus": 1, "disk": 1}, True),
    ("POST", "/v2.1/flavors/6/os-extra_specs", "extra_specs", s.EXTRA_SPECS, {"hw:cpu_policy": "shared"}, True),
    ("PUT", "/v2.1/os-quota-sets/p-test", "quota_set", s.QUOTA_UPDATE, {"instances": 5}, True),
]


@pytest.fixture
def server(env):
    return env.boot()


def _send(env, api, method, path, raw):
    return api.client.open(path, method=method, data=raw, content_type="application/json", headers=api.headers())


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[0]} {r[1]} {r[2]}" for r in ROUTES])
def test_hostile_bodies_are_refused_and_change_nothing(env, server, route):
    method, path, wrapper, schema, base, as_admin = route
    path = path.format(server=server)
    api = env.admin if as_admin else env.api
    if base is None:
        base = env.server_body()["server"]
    hostile.fuzz_route(lambda raw: _send(env, api, method, path, raw), "nova", wrapper,
                       hostile.fields_of(schema, wrapper), base, lambda: hostile.db_rows(models.database))


def _post_server(env, **fields):
    raw = json.dumps(env.server_body(**fields)).encode()
    return _send(env, env.api, "POST", "/v2.1/servers", raw)


@pytest.mark.parametrize("fields,field", [
    ({"name": "a\ud800"}, "server/name"),
    ({"name": "evil\x00"}, "server/name"),
    ({"min_count": 10 ** 30}, "server/min_count"),
    ({"min_count": 2 ** 40}, "server/min_count"),
    ({"availability_zone": "mars"}, "server/availability_zone"),
    ({"config_drive": "maybe"}, "server/config_drive"),
    ({"config_drive": 1}, "server/config_drive"),
    ({"return_reservation_id": "sure"}, "server/return_reservation_id"),
])
def test_named_cases_on_server_create(env, fields, field):
    before = hostile.db_rows(models.database)
    hostile.assert_refused("nova", _post_server(env, **fields), 400, field=field)
    assert hostile.db_rows(models.database) == before


def test_deep_nesting_and_huge_flavor(env):
    before = hostile.db_rows(models.database)
    resp = _send(env, env.api, "POST", "/v2.1/servers", b"[" * 100000 + b"]" * 100000)
    assert "nested deeper" in hostile.assert_refused("nova", resp, 400)
    for ram in (10 ** 30, "1" * 30, 2 ** 31):
        raw = json.dumps({"flavor": {"name": "huge", "ram": ram, "vcpus": 1, "disk": 1}}).encode()
        hostile.assert_refused("nova", _send(env, env.admin, "POST", "/v2.1/flavors", raw), 400, field="flavor/ram")
    assert hostile.db_rows(models.database) == before


def test_boolean_strings_mean_what_they_say(env):
    """Nova's boolean strings are accepted, and "false" is false (it used to be a non-empty, truthy string)."""
    sid = env.boot(config_drive="false")
    with models.database.connection_context():
        assert models.Instance.get_by_id(sid).config_drive is False
    sid = env.boot(config_drive="YES")
    with models.database.connection_context():
        assert models.Instance.get_by_id(sid).config_drive is True
