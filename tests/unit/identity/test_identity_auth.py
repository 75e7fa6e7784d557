"""Version discovery and /v3/auth/tokens: methods, scopes, catalog, validation, revocation, bad input."""
from __future__ import annotations

import base64
import json
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from appliance.app import make_app


def test_root_discovery_is_300_with_location(env):
    resp = env.req("GET", "/")
    assert resp.status_code == 300
    values = resp.get_json()["versions"]["values"]
    assert values[0]["id"] == "v3.14" and values[0]["status"] == "stable"
    assert resp.headers["Location"].endswith("/v3/")


def test_v3_discovery_public_with_self_link(env):
    for path in ("/v3", "/v3/"):
        resp = env.req("GET", path)
        assert resp.status_code == 200
        version = resp.get_json()["version"]
        assert version["id"] == "v3.14" and version["status"] == "stable"
        assert any(link["rel"] == "self" and link["href"].endswith("/v3/") for link in version["links"])
        assert version["media-types"][0]["base"] == "application/json"


def test_password_token_project_scope_with_catalog(env):
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body())
    assert resp.status_code == 201
    assert resp.headers["X-Subject-Token"]
    token = resp.get_json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "admin" and token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["project"]["name"] == "admin"
    assert {r["name"] for r in token["roles"]} == {"admin", "member", "reader"}  # implied roles expanded
    assert token["expires_at"].endswith("Z") and token["issued_at"].endswith("Z")
    assert len(token["expires_at"]) == len("2026-01-01T00:00:00.000000Z")
    identity = [s for s in token["catalog"] if s["type"] == "identity"][0]
    assert {e["interface"] for e in identity["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["url"].endswith("/v3/") and e["region_id"] == "RegionOne" for e in identity["endpoints"])


def test_nocatalog_and_user_by_id_and_domain_by_name(env):
    uid = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password":
                                                                                  "Admin-Pass-1"}}},
                     "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
    resp = env.req("POST", "/v3/auth/tokens?nocatalog", json=body)
    assert resp.status_code == 201 and "catalog" not in resp.get_json()["token"]


def test_domain_and_system_scope(env):
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body(project=None, system=True))
    assert resp.status_code == 201
    assert resp.get_json()["token"]["system"] == {"all": True}
    # admin has no role on the default domain
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body(project=None, domain="default"))
    assert resp.status_code == 401
    admin_id = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
    env.ok("PUT", f"/v3/domains/default/users/{admin_id}/roles/{env.role_id('reader')}")
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body(project=None, domain="default"))
    assert resp.status_code == 201
    assert resp.get_json()["token"]["domain"]["id"] == "default"
    assert [r["name"] for r in resp.get_json()["token"]["roles"]] == ["reader"]


def test_unscoped_without_default_project_has_no_catalog(env, kerr):
    env.user("loner")
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body("loner", "User-Pass-1", project=None))
    assert resp.status_code == 201
    token = resp.get_json()["token"]
    assert "catalog" not in token and "project" not in token and "roles" not in token


def test_bad_credentials_are_401_with_www_authenticate(env, kerr):
    with env.unchanged():
        for body in (env.auth_body(password="wrong"), env.auth_body(user="nobody")):
            resp = env.req("POST", "/v3/auth/tokens", json=body)
            kerr(resp, 401, "requires authentication")
            assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_disabled_user_and_project_cannot_authenticate(env, kerr):
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    env.ok("PATCH", f"/v3/projects/{pid}", json={"project": {"enabled": False}})
    kerr(env.req("POST", "/v3/auth/tokens", json=env.auth_body("u1", "User-Pass-1", "p1")), 401)
    env.ok("PATCH", f"/v3/projects/{pid}", json={"project": {"enabled": True}})
    env.ok("PATCH", f"/v3/users/{uid}", json={"user": {"enabled": False}})
    kerr(env.req("POST", "/v3/auth/tokens", json=env.auth_body("u1", "User-Pass-1", "p1")), 401)


def test_no_role_on_project_is_401(env, kerr):
    env.project("p1")
    env.user("u1")
    kerr(env.req("POST", "/v3/auth/tokens", json=env.auth_body("u1", "User-Pass-1", "p1")), 401, "no access")


def test_bad_auth_bodies(env, kerr):
    cases = [
        (b"{not json", "Malformed JSON"),
        (json.dumps({}).encode(), "'auth'"),
        (json.dumps({"auth": {}}).encode(), "'identity'"),
        (json.dumps({"auth": {"identity": {"methods": "password"}}}).encode(), "identity/methods"),
        (json.dumps({"auth": {"identity": {"methods": ["password"], "password": "x"}}}).encode(),
         "identity/password"),
        (json.dumps({"auth": {"identity": {"methods": []}}}).encode(), "identity/methods"),
    ]
    with env.unchanged():
        for raw, fragment in cases:
            kerr(env.req("POST", "/v3/auth/tokens", data=raw), 400, fragment)
        kerr(env.req("POST", "/v3/auth/tokens", json={"auth": {"identity": {"methods": ["kerberos"],
                                                                             "kerberos": {}}}}), 401,
             "unsupported method")
        body = env.auth_body()
        body["auth"]["scope"] = {"system": {"all": False}}
        kerr(env.req("POST", "/v3/auth/tokens", json=body), 400, "scope/system")


def test_oversize_body_is_413(env, kerr):
    big = json.dumps({"auth": {"identity": {"methods": ["password"]}}, "pad": "x" * (env.settings.max_request_body
                                                                                        + 10)})
    with env.unchanged():
        kerr(env.req("POST", "/v3/auth/tokens", data=big), 413, "limit")
        kerr(env.req("POST", "/v3/projects", env.admin, data=big), 413)


def test_validate_head_and_delete(env, kerr):
    admin = env.admin
    subject = env.token()
    resp = env.req("GET", "/v3/auth/tokens", admin, headers={"X-Subject-Token": subject})
    assert resp.status_code == 200 and resp.headers["X-Subject-Token"] == subject
    assert resp.get_json()["token"]["project"]["name"] == "admin"
    assert env.req("HEAD", "/v3/auth/tokens", admin, headers={"X-Subject-Token": subject}).status_code == 200
    kerr(env.req("GET", "/v3/auth/tokens", admin), 400, "X-Subject-Token")
    kerr(env.req("GET", "/v3/auth/tokens", admin, headers={"X-Subject-Token": "garbage"}), 404)
    assert env.req("DELETE", "/v3/auth/tokens", admin, headers={"X-Subject-Token": subject}).status_code == 204
    kerr(env.req("GET", "/v3/auth/tokens", admin, headers={"X-Subject-Token": subject}), 404)
    kerr(env.req("GET", "/v3/projects", subject), 401, "revoked")


def test_missing_expired_and_forged_tokens_are_401(env, kerr, tmp_path):
    from appliance.testing.plugin import TokenMinter
    minter = TokenMinter(env.settings)  # real Fernet tokens from this state dir's key repository
    with env.unchanged():
        kerr(env.req("GET", "/v3/projects"), 401, "requires authentication")
        kerr(env.req("GET", "/v3/projects", minter(roles=["admin"], expires_in=-5)), 401, "expired")
        kerr(env.req("GET", "/v3/projects", "gAAAAAforged"), 401)
        kerr(env.req("POST", "/v3/projects", minter(roles=["admin"], expires_in=-5),
                     json={"project": {"name": "late"}}), 401, "expired")
    # a well-formed token from another appliance's key repository is refused
    from appliance.testing.plugin import make_settings
    foreign = TokenMinter(make_settings(tmp_path / "elsewhere"))(roles=["admin"])
    kerr(env.req("GET", "/v3/projects", foreign), 401)
    assert env.req("GET", "/v3/projects", minter(roles=["admin"])).status_code == 200


def test_user_validates_own_token_but_not_others(env, kerr):
    pid = env.project("p1")
    env.user("u1", project_id=pid)
    env.user("u2", project_id=pid)
    t1 = env.token("u1", "User-Pass-1", "p1")
    t2 = env.token("u2", "User-Pass-1", "p1")
    assert env.req("GET", "/v3/auth/tokens", t1, headers={"X-Subject-Token": t1}).status_code == 200
    kerr(env.req("GET", "/v3/auth/tokens", t1, headers={"X-Subject-Token": t2}), 403)


def test_token_method_rescopes_and_keeps_audit_chain(env):
    unscoped = env.token(project=None)
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                     "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = env.req("POST", "/v3/auth/tokens", json=body)
    assert resp.status_code == 201
    token = resp.get_json()["token"]
    assert token["project"]["name"] == "admin"
    assert len(token["audit_ids"]) == 2
    assert "password" in token["methods"]


def test_validation_recomputes_roles_from_db(env):
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid, role="admin")
    tok = env.token("u1", "User-Pass-1", "p1")
    env.ok("PUT", f"/v3/projects/{pid}/users/{uid}/roles/{env.role_id('reader')}")
    resp = env.req("GET", "/v3/auth/tokens", env.admin, headers={"X-Subject-Token": tok})
    assert {r["name"] for r in resp.get_json()["token"]["roles"]} == {"admin", "member", "reader"}


def _other_service(env):
    """A second app on the same state dir, standing in for another Egret service."""
    app = make_app("compute", env.settings, error_format="nova")

    @app.get("/v2.1/ping")
    def ping():
        return {"ok": True}
    return app.test_client()


def _ok_elsewhere(client, token):
    return client.get("/v2.1/ping", headers={"X-Auth-Token": token}).status_code


def test_revocation_reaches_other_services_at_once(env):
    other = _other_service(env)
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    role = env.role_id("member")

    def fresh():
        t = env.token("u1", "User-Pass-1", "p1")
        assert _ok_elsewhere(other, t) == 200
        return t

    # role removed
    t = fresh()
    env.ok("DELETE", f"/v3/projects/{pid}/users/{uid}/roles/{role}")
    assert _ok_elsewhere(other, t) == 401
    env.ok("PUT", f"/v3/projects/{pid}/users/{uid}/roles/{role}")
    # password changed by the user
    t = fresh()
    env.ok("POST", f"/v3/users/{uid}/password", t, json={"user": {"original_password": "User-Pass-1",
                                                                     "password": "User-Pass-2"}}, status=204)
    assert _ok_elsewhere(other, t) == 401
    env.ok("PATCH", f"/v3/users/{uid}", json={"user": {"password": "User-Pass-1"}})
    # user disabled
    t = fresh()
    env.ok("PATCH", f"/v3/users/{uid}", json={"user": {"enabled": False}})
    assert _ok_elsewhere(other, t) == 401
    env.ok("PATCH", f"/v3/users/{uid}", json={"user": {"enabled": True}})
    # project disabled, then deleted
    t = fresh()
    env.ok("PATCH", f"/v3/projects/{pid}", json={"project": {"enabled": False}})
    assert _ok_elsewhere(other, t) == 401
    env.ok("PATCH", f"/v3/projects/{pid}", json={"project": {"enabled": True}})
    t = fresh()
    env.ok("DELETE", f"/v3/projects/{pid}")
    assert _ok_elsewhere(other, t) == 401


def test_group_role_removal_and_user_delete_revoke(env):
    other = _other_service(env)
    pid = env.project("p1")
    uid = env.user("u1")
    gid = env.ok("POST", "/v3/groups", json={"group": {"name": "g1"}})["group"]["id"]
    env.ok("PUT", f"/v3/groups/{gid}/users/{uid}")
    role = env.role_id("member")
    env.ok("PUT", f"/v3/projects/{pid}/groups/{gid}/roles/{role}")
    t = env.token("u1", "User-Pass-1", "p1")
    assert _ok_elsewhere(other, t) == 200
    env.ok("DELETE", f"/v3/projects/{pid}/groups/{gid}/roles/{role}")
    assert _ok_elsewhere(other, t) == 401
    env.ok("PUT", f"/v3/projects/{pid}/users/{uid}/roles/{role}")
    t = env.token("u1", "User-Pass-1", "p1")
    env.ok("DELETE", f"/v3/users/{uid}")
    assert _ok_elsewhere(other, t) == 401


def test_domain_disable_revokes(env):
    other = _other_service(env)
    did = env.ok("POST", "/v3/domains", json={"domain": {"name": "d1"}})["domain"]["id"]
    pid = env.ok("POST", "/v3/projects", json={"project": {"name": "p", "domain_id": did}})["project"]["id"]
    uid = env.ok("POST", "/v3/users", json={"user": {"name": "du", "domain_id": did,
                                                     "password": "User-Pass-1"}})["user"]["id"]
    env.ok("PUT", f"/v3/projects/{pid}/users/{uid}/roles/{env.role_id('member')}")
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "du", "domain": {"id": did}, "password": "User-Pass-1"}}}, "scope": {"project": {"id": pid}}}}
    t = env.req("POST", "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    assert _ok_elsewhere(other, t) == 200
    env.ok("PATCH", f"/v3/domains/{did}", json={"domain": {"enabled": False}})
    assert _ok_elsewhere(other, t) == 401
    assert env.req("POST", "/v3/auth/tokens", json=body).status_code == 401


def test_application_credential_auth_and_revocation(env, kerr):
    other = _other_service(env)
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    tok = env.token("u1", "User-Pass-1", "p1")
    cred = env.ok("POST", f"/v3/users/{uid}/application_credentials", tok,
                  json={"application_credential": {"name": "ci", "roles": [{"name": "reader"}]}})
    cred = cred["application_credential"]
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}}
    resp = env.req("POST", "/v3/auth/tokens", json=body)
    assert resp.status_code == 201
    token = resp.get_json()["token"]
    assert token["project"]["id"] == pid and [r["name"] for r in token["roles"]] == ["reader"]
    assert token["application_credential"]["id"] == cred["id"]
    by_name = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "name": "ci", "user": {"name": "u1", "domain": {"id": "default"}}, "secret": cred["secret"]}}}}
    assert env.req("POST", "/v3/auth/tokens", json=by_name).status_code == 201
    bad = json.loads(json.dumps(body))
    bad["auth"]["identity"]["application_credential"]["secret"] = "nope"
    kerr(env.req("POST", "/v3/auth/tokens", json=bad), 401)
    ac_token = resp.headers["X-Subject-Token"]
    assert _ok_elsewhere(other, ac_token) == 200
    env.ok("DELETE", f"/v3/users/{uid}/application_credentials/{cred['id']}", tok)
    assert _ok_elsewhere(other, ac_token) == 401
    kerr(env.req("POST", "/v3/auth/tokens", json=body), 401)


def test_totp_is_a_second_factor(env, kerr):
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    secret = base64.b32encode(b"0123456789abcdefghij").decode().rstrip("=")
    env.ok("POST", "/v3/credentials", json={"credential": {"user_id": uid, "type": "totp", "blob": secret}})
    kerr(env.req("POST", "/v3/auth/tokens", json=env.auth_body("u1", "User-Pass-1", "p1")), 401, "totp")
    passcode = TOTP(b"0123456789abcdefghij", 6, SHA1(), 30).generate(time.time()).decode()
    body = env.auth_body("u1", "User-Pass-1", "p1")
    body["auth"]["identity"]["methods"] = ["password", "totp"]
    body["auth"]["identity"]["totp"] = {"user": {"id": uid, "passcode": passcode}}
    resp = env.req("POST", "/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.get_json()
    assert set(resp.get_json()["token"]["methods"]) == {"password", "totp"}
    body["auth"]["identity"]["totp"]["user"]["passcode"] = "000000" if passcode != "000000" else "111111"
    kerr(env.req("POST", "/v3/auth/tokens", json=body), 401)


def test_auth_catalog_projects_domains_system(env, kerr):
    admin = env.admin
    cat = env.ok("GET", "/v3/auth/catalog", admin)["catalog"]
    assert any(s["type"] == "identity" for s in cat)
    names = {p["name"] for p in env.ok("GET", "/v3/auth/projects", admin)["projects"]}
    assert names == {"admin"}
    assert env.ok("GET", "/v3/auth/domains", admin)["domains"] == []
    assert env.ok("GET", "/v3/auth/system", admin)["system"] == [{"all": True}]
    env.user("loner")  # no default project, so its token stays unscoped
    kerr(env.req("GET", "/v3/auth/catalog", env.token("loner", "User-Pass-1", project=None)), 403)


def test_catalog_substitutes_project_id(env):
    sid = env.ok("POST", "/v3/services", json={"service": {"type": "per-project", "name": "pp"}})
    sid = sid["service"]["id"]
    env.ok("POST", "/v3/endpoints", json={"endpoint": {"service_id": sid, "interface": "public",
                                                       "url": "http://h:8776/v3/$(project_id)s",
                                                       "region_id": "RegionOne"}})
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body())
    token = resp.get_json()["token"]
    bs = [s for s in token["catalog"] if s["type"] == "per-project"][0]
    assert bs["endpoints"][0]["url"] == f"http://h:8776/v3/{token['project']['id']}"
    # a system-scoped catalog cannot substitute, so the endpoint is left out
    resp = env.req("POST", "/v3/auth/tokens", json=env.auth_body(project=None, system=True))
    assert not [s for s in resp.get_json()["token"]["catalog"] if s["type"] == "per-project"]


def test_oversize_chunked_body_is_413(env, kerr):
    import io
    big = b'{"auth": "' + b"x" * (env.settings.max_request_body + 10) + b'"}'
    with env.unchanged():
        resp = env.client.post("/v3/auth/tokens", input_stream=io.BytesIO(big),
                               headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                               environ_overrides={"wsgi.input_terminated": True})
        kerr(resp, 413, "limit")
    small = json.dumps(env.auth_body()).encode()
    resp = env.client.post("/v3/auth/tokens", input_stream=io.BytesIO(small),
                           headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                               environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 201


def test_wrongly_typed_auth_fields_are_400_or_401_never_500(env, kerr):
    weird = [5, ["x"], {"a": 1}, None, True]
    bodies = []
    for w in weird:
        bodies += [
            {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": w, "domain": {"id": "default"},
                                                                                   "password": "x"}}}}},
            {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": w, "password": "x"}}}}},
            {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": w,
                                                                                   "password": "x"}}}}},
            {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {
                "name": w}, "password": w}}}}},
            {"auth": {"identity": {"methods": ["password"], "password": {"user": w}}}},
            {"auth": {"identity": {"methods": ["token"], "token": {"id": w}}}},
            {"auth": {"identity": {"methods": ["totp"], "totp": {"user": {"name": "admin", "domain": {"id": "default"},
                                                                           "passcode": w}}}}},
            {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
                "id": w, "secret": "x"}}}},
            {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
                "name": "x", "user": w, "secret": w}}}},
            {**env.auth_body(), "auth": {**env.auth_body()["auth"], "scope": {"project": {"id": w}}}},
            {**env.auth_body(), "auth": {**env.auth_body()["auth"], "scope": {"project": {"name": w, "domain": w}}}},
            {**env.auth_body(), "auth": {**env.auth_body()["auth"], "scope": {"domain": {"name": w}}}},
            {**env.auth_body(), "auth": {**env.auth_body()["auth"], "scope": {"project": w}}},
            {**env.auth_body(), "auth": {**env.auth_body()["auth"], "scope": {"system": w}}},
        ]
    with env.unchanged():
        for body in bodies:
            resp = env.req("POST", "/v3/auth/tokens", json=body)
            assert resp.status_code in (400, 401), (body, resp.status_code, resp.get_json())
            kerr(resp, resp.status_code)


def test_token_delete_and_domain_delete_revoke_elsewhere(env):
    other = _other_service(env)
    tok = env.token()
    assert _ok_elsewhere(other, tok) == 200
    assert env.req("DELETE", "/v3/auth/tokens", env.admin, headers={"X-Subject-Token": tok}).status_code == 204
    assert _ok_elsewhere(other, tok) == 401
    assert _ok_elsewhere(other, env.admin) == 200  # only that token
    did = env.ok("POST", "/v3/domains", json={"domain": {"name": "gone"}})["domain"]["id"]
    uid = env.ok("POST", "/v3/users", json={"user": {"name": "gu", "domain_id": did,
                                                     "password": "User-Pass-1"}})["user"]["id"]
    env.ok("PUT", f"/v3/domains/{did}/users/{uid}/roles/{env.role_id('reader')}")
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": uid, "password": "User-Pass-1"}}}, "scope": {"domain": {"id": did}}}}
    dtok = env.req("POST", "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    assert _ok_elsewhere(other, dtok) == 200
    # a disabled domain's tokens die at once; deleting it afterwards keeps them dead
    env.ok("PATCH", f"/v3/domains/{did}", json={"domain": {"enabled": False}})
    env.ok("DELETE", f"/v3/domains/{did}")
    assert _ok_elsewhere(other, dtok) == 401


def test_unrestricted_app_cred_may_create_app_creds(env):
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    tok = env.token("u1", "User-Pass-1", "p1")
    cred = env.ok("POST", f"/v3/users/{uid}/application_credentials", tok, json={
        "application_credential": {"name": "parent", "unrestricted": True}})["application_credential"]
    assert cred["unrestricted"] is True
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}}
    ac_tok = env.req("POST", "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    child = env.ok("POST", f"/v3/users/{uid}/application_credentials", ac_tok,
                   json={"application_credential": {"name": "child", "secret": "Chosen-Secret-1"}})
    assert child["application_credential"]["secret"] == "Chosen-Secret-1"
