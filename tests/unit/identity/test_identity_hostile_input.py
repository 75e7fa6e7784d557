"""Hostile bodies on every identity JSON route: never a 5xx, refusals in Keystone's format, nothing changed; the
named cases (deep nesting, lone surrogate, 10**30, NUL in names, non-boolean booleans) and EC2 project checks."""
import pytest

from appliance.testing import hostile
from services.identity import schemas as s

# (method, path with {user}/{project} placeholders, wrapper key, schema the route validates against, a valid document)
PASSWORD_AUTH = {"identity": {"methods": ["password"], "password": {"user": {
    "name": "fuzzer", "domain": {"id": "default"}, "password": "User-Pass-1"}}},
    "scope": {"project": {"name": "fuzz", "domain": {"id": "default"}}}}
ROUTES = [
    ("POST", "/v3/auth/tokens", "auth", s.AUTH, PASSWORD_AUTH),
    ("POST", "/v3/users", "user", s.create("user", s.USER), {"name": "u1", "password": "Pass-word-1"}),
    ("PATCH", "/v3/users/{user}", "user", s.update("user", s.USER), {"description": "d"}),
    ("POST", "/v3/users/{user}/password", "user", s.PASSWORD_CHANGE,
     {"password": "New-Pass-2", "original_password": "wrong"}),
    ("POST", "/v3/projects", "project", s.create("project", s.PROJECT), {"name": "p1"}),
    ("PATCH", "/v3/projects/{project}", "project", s.update("project", s.PROJECT), {"description": "d"}),
    ("POST", "/v3/domains", "domain", s.create("domain", s.DOMAIN), {"name": "d1"}),
    ("POST", "/v3/groups", "group", s.create("group", s.GROUP), {"name": "g1"}),
    ("POST", "/v3/roles", "role", s.create("role", s.ROLE), {"name": "r1"}),
    ("POST", "/v3/regions", "region", s.create("region", s.REGION, ()), {"description": "r"}),
    ("POST", "/v3/services", "service", s.create("service", s.SERVICE, ("type",)), {"type": "t", "name": "n"}),
    ("POST", "/v3/endpoints", "endpoint", s.create("endpoint", s.ENDPOINT, ()),
     {"interface": "public", "url": "http://x", "service_id": "none"}),
    ("POST", "/v3/credentials", "credential", s.create("credential", s.CREDENTIAL, ()),
     {"user_id": "{user}", "type": "ec2", "project_id": "{project}", "blob": '{"access": "a", "secret": "s"}'}),
    ("POST", "/v3/users/{user}/credentials/OS-EC2", None, s.EC2_CREATE, {"tenant_id": "{project}"}),
    ("POST", "/v3/users/{user}/application_credentials", "application_credential",
     s.create("application_credential", s.APP_CRED), {"name": "ac"}),
]


def _fill(value, target):
    if isinstance(value, str):
        return value.replace("{user}", target["user"]).replace("{project}", target["project"])
    if isinstance(value, dict):
        return {k: _fill(v, target) for k, v in value.items()}
    return value


@pytest.fixture
def target(env):
    project = env.project("fuzz")
    user = env.user("fuzzer", project_id=project)
    return {"user": user, "project": project}


def _send(env, method, path, raw, token):
    return env.client.open(path, method=method, data=raw, content_type="application/json",
                           headers={"X-Auth-Token": token} if token else {})


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_hostile_bodies_are_refused_and_change_nothing(env, target, route):
    method, path, wrapper, schema, base = route
    path, base = path.format(**target), _fill(base, target)
    token = env.admin
    hostile.fuzz_route(lambda raw: _send(env, method, path, raw, token), "keystone", wrapper,
                       hostile.fields_of(schema, wrapper), base, env.snapshot)


def test_deep_nesting_before_authentication(env):
    for raw in (b"[" * 100000 + b"]" * 100000, b'{"a":' * 50000 + b"1" + b"}" * 50000):
        resp = _send(env, "POST", "/v3/auth/tokens", raw, None)
        assert "nested deeper" in hostile.assert_refused("keystone", resp, 400)


def test_lone_surrogate_in_a_name(env):
    with env.unchanged():
        resp = _send(env, "POST", "/v3/users", b'{"user": {"name": "a\\ud800b"}}', env.admin)
        hostile.assert_refused("keystone", resp, 400, field="user/name")
        resp = _send(env, "POST", "/v3/auth/tokens", b'{"auth": {"identity": {"methods": ["password"], "password": '
                     b'{"user": {"name": "\\udfff", "password": "x", "domain": {"id": "default"}}}}}}', None)
        hostile.assert_refused("keystone", resp, 400, field="auth/identity/password/user/name")


def test_huge_number(env):
    with env.unchanged():
        resp = env.req("POST", "/v3/projects", env.admin, {"project": {"name": "big", "description": 10 ** 30}})
        hostile.assert_refused("keystone", resp, 400, field="project/description")


@pytest.mark.parametrize("path,wrapper", [("/v3/users", "user"), ("/v3/projects", "project"),
                                          ("/v3/groups", "group"), ("/v3/roles", "role")])
def test_nul_in_names(env, path, wrapper):
    with env.unchanged():
        resp = env.req("POST", path, env.admin, {wrapper: {"name": "evil\x00name"}})
        hostile.assert_refused("keystone", resp, 400, field=f"{wrapper}/name")


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None, [], {}])
def test_non_boolean_booleans(env, value):
    with env.unchanged():
        resp = env.req("POST", "/v3/users", env.admin, {"user": {"name": "b", "enabled": value}})
        hostile.assert_refused("keystone", resp, 400, field="user/enabled")
        resp = env.req("POST", "/v3/projects", env.admin, {"project": {"name": "b", "is_domain": value}})
        hostile.assert_refused("keystone", resp, 400, field="project/is_domain")


def test_ec2_credential_needs_a_role_on_the_project(env):
    mine = env.project("mine")
    theirs = env.project("theirs")
    uid = env.user("ec2user", password="Ec2-Pass-1", project_id=mine)
    token = env.token("ec2user", "Ec2-Pass-1", "mine")
    blob = '{"access": "AK1", "secret": "s"}'
    with env.unchanged():
        resp = env.req("POST", "/v3/credentials", token, {"credential": {
            "user_id": uid, "type": "ec2", "project_id": theirs, "blob": blob}})
        hostile.assert_refused("keystone", resp, 403)
        # the OS-EC2 route refuses the same thing the same way
        resp = env.req("POST", f"/v3/users/{uid}/credentials/OS-EC2", token, {"tenant_id": theirs})
        hostile.assert_refused("keystone", resp, 403)
    resp = env.req("POST", "/v3/credentials", token, {"credential": {
        "user_id": uid, "type": "ec2", "project_id": mine, "blob": blob}})
    assert resp.status_code == 201, resp.data
    # an admin may make one for any project (as for OS-EC2)
    resp = env.req("POST", "/v3/credentials", env.admin, {"credential": {
        "user_id": uid, "type": "ec2", "project_id": theirs, "blob": '{"access": "AK2", "secret": "s"}'}})
    assert resp.status_code == 201, resp.data
