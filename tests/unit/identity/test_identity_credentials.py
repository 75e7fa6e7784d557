"""Application credentials, /v3/credentials (EC2 ids = sha256(access)), OS-EC2, and who may read them."""
from __future__ import annotations

import datetime
import hashlib
import json


def _member(env, name="u1", project="p1"):
    pid = env.project(project)
    uid = env.user(name, project_id=pid)
    return pid, uid, env.token(name, "User-Pass-1", project)


def test_app_cred_secret_once_hashed_and_listed(env, kerr):
    from services.identity import models
    pid, uid, tok = _member(env)
    made = env.ok("POST", f"/v3/users/{uid}/application_credentials", tok, json={
        "application_credential": {"name": "a1", "description": "d",
                                   "expires_at": "2099-01-01T00:00:00Z"}})["application_credential"]
    assert made["secret"] and made["project_id"] == pid and made["unrestricted"] is False
    assert {r["name"] for r in made["roles"]} == {"member", "reader"}
    assert made["expires_at"].startswith("2099-01-01T00:00:00")
    got = env.ok("GET", f"/v3/users/{uid}/application_credentials/{made['id']}", tok)["application_credential"]
    assert "secret" not in got
    listed = env.ok("GET", f"/v3/users/{uid}/application_credentials?name=a1", tok)["application_credentials"]
    assert [c["id"] for c in listed] == [made["id"]]
    models.database.connect(reuse_if_open=True)
    stored = models.AppCredential.get_by_id(made["id"]).secret_hash
    models.database.close()
    assert stored.startswith("scrypt$") and made["secret"] not in stored
    with env.unchanged():
        kerr(env.req("POST", f"/v3/users/{uid}/application_credentials", tok,
                     json={"application_credential": {"name": "a1"}}), 409)


def test_app_cred_bad_input_and_role_subset(env, kerr):
    pid, uid, tok = _member(env)
    url = f"/v3/users/{uid}/application_credentials"
    with env.unchanged():
        kerr(env.req("POST", url, tok, json={"application_credential": {"name": "x",
                                                                         "roles": [{"name": "admin"}]}}), 403,
             "delegate")
        kerr(env.req("POST", url, tok, json={"application_credential": {"name": "x",
                                                                         "roles": [{"name": "nope"}]}}), 404)
        kerr(env.req("POST", url, tok, json={"application_credential": {"name": "x",
                                                                         "expires_at": "2001-01-01T00:00:00"}}),
             400, "expires_at")
        kerr(env.req("POST", url, tok, json={"application_credential": {"name": "x", "expires_at": "soon"}}),
             400, "expires_at")
        kerr(env.req("POST", url, tok, json={"application_credential": {"roles": []}}), 400,
             "application_credential/name")
        kerr(env.req("POST", url, tok, data=b"{"), 400, "Malformed")
        kerr(env.req("POST", f"/v3/users/{uid}/application_credentials/nope", tok, json={}), 405)
        kerr(env.req("GET", f"/v3/users/{uid}/application_credentials/nope", tok), 404)
        kerr(env.req("DELETE", f"/v3/users/{uid}/application_credentials/nope", tok), 404)


def test_expired_app_cred_cannot_authenticate(env, kerr):
    from services.identity import models
    pid, uid, tok = _member(env)
    made = env.ok("POST", f"/v3/users/{uid}/application_credentials", tok,
                  json={"application_credential": {"name": "a1"}})["application_credential"]
    models.database.connect(reuse_if_open=True)
    models.AppCredential.update(expires_at=datetime.datetime.utcnow() - datetime.timedelta(minutes=1)).where(
        models.AppCredential.id == made["id"]).execute()
    models.database.close()
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": made["id"], "secret": made["secret"]}}}}
    kerr(env.req("POST", "/v3/auth/tokens", json=body), 401, "expired")


def test_restricted_app_cred_token_cannot_make_app_creds_or_rescope(env, kerr):
    pid, uid, tok = _member(env)
    made = env.ok("POST", f"/v3/users/{uid}/application_credentials", tok,
                  json={"application_credential": {"name": "a1"}})["application_credential"]
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": made["id"], "secret": made["secret"]}}}}
    ac_tok = env.req("POST", "/v3/auth/tokens", json=body).headers["X-Subject-Token"]
    kerr(env.req("POST", f"/v3/users/{uid}/application_credentials", ac_tok,
                 json={"application_credential": {"name": "a2"}}), 403)
    kerr(env.req("POST", "/v3/auth/tokens", json={"auth": {"identity": {"methods": ["token"],
                                                                        "token": {"id": ac_tok}}}}), 403)


def test_ec2_credentials_os_ec2_and_lookup_by_sha256(env, kerr, mint_token):
    pid, uid, tok = _member(env)
    made = env.ok("POST", f"/v3/users/{uid}/credentials/OS-EC2", tok, json={"tenant_id": pid})["credential"]
    assert made["tenant_id"] == pid and made["user_id"] == uid and made["access"] and made["secret"]
    listed = env.ok("GET", f"/v3/users/{uid}/credentials/OS-EC2", tok)["credentials"]
    assert [c["access"] for c in listed] == [made["access"]]
    cred_id = hashlib.sha256(made["access"].encode()).hexdigest()
    # what the storage service does with its service token
    svc_pid = env.ok("GET", "/v3/projects?name=service")["projects"][0]["id"]
    svc_uid = env.user("storage-svc", project_id=svc_pid, role="service")
    svc = env.token("storage-svc", "User-Pass-1", "service")
    got = env.ok("GET", f"/v3/credentials/{cred_id}", svc)["credential"]
    assert got["type"] == "ec2" and got["project_id"] == pid and got["user_id"] == uid
    assert json.loads(got["blob"]) == {"access": made["access"], "secret": made["secret"]}
    assert svc_uid
    # another plain user sees nothing of it
    _, _, other = _member(env, "u2", "p2")
    kerr(env.req("GET", f"/v3/credentials/{cred_id}", other), 404)
    assert env.ok("GET", "/v3/credentials", other)["credentials"] == []
    kerr(env.req("GET", f"/v3/users/{uid}/credentials/OS-EC2", other), 403)
    with env.unchanged():
        kerr(env.req("POST", f"/v3/users/{uid}/credentials/OS-EC2", tok, json={}), 400, "tenant_id")
        kerr(env.req("POST", f"/v3/users/{uid}/credentials/OS-EC2", tok, json={"tenant_id": "nope"}), 400, "nope")
        p2 = env.ok("GET", "/v3/projects?name=p2")["projects"][0]["id"]
        kerr(env.req("POST", f"/v3/users/{uid}/credentials/OS-EC2", tok, json={"tenant_id": p2}), 403)
        kerr(env.req("DELETE", f"/v3/users/{uid}/credentials/OS-EC2/nope", tok), 404)
    env.ok("DELETE", f"/v3/users/{uid}/credentials/OS-EC2/{made['access']}", tok)
    kerr(env.req("GET", f"/v3/credentials/{cred_id}", env.admin), 404)


def test_generic_credentials_ec2_blob_and_owner_rules(env, kerr):
    pid, uid, tok = _member(env)
    blob = json.dumps({"access": "AKIDEXAMPLE", "secret": "s3cr3t"})
    made = env.ok("POST", "/v3/credentials", tok, json={"credential": {"user_id": uid, "project_id": pid,
                                                                        "type": "ec2", "blob": blob}})
    assert made["credential"]["id"] == hashlib.sha256(b"AKIDEXAMPLE").hexdigest()
    with env.unchanged():
        kerr(env.req("POST", "/v3/credentials", tok, json={"credential": {"user_id": uid, "project_id": pid,
                                                                           "type": "ec2", "blob": blob}}), 409)
        kerr(env.req("POST", "/v3/credentials", tok, json={"credential": {"user_id": uid, "project_id": pid,
                                                                           "type": "ec2", "blob": "{}"}}), 400,
             "blob")
        kerr(env.req("POST", "/v3/credentials", tok, json={"credential": {"user_id": uid, "type": "ec2",
                                                                           "blob": blob + " "}}), 400,
             "project_id")
        admin_id = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
        kerr(env.req("POST", "/v3/credentials", tok, json={"credential": {"user_id": admin_id, "type": "cert",
                                                                           "blob": "x"}}), 403)
        kerr(env.req("POST", "/v3/credentials", tok, json={"credential": {"user_id": uid, "type": "totp",
                                                                           "blob": "!!"}}), 400, "base32")
    cid = made["credential"]["id"]
    assert env.ok("GET", f"/v3/credentials?type=ec2&user_id={uid}", tok)["credentials"][0]["id"] == cid
    env.ok("PATCH", f"/v3/credentials/{cid}", tok, json={"credential": {"blob": blob}})
    env.ok("DELETE", f"/v3/credentials/{cid}", tok)


def test_app_cred_of_a_disabled_project_cannot_authenticate(env, kerr):
    pid, uid, tok = _member(env)
    made = env.ok("POST", f"/v3/users/{uid}/application_credentials", tok,
                  json={"application_credential": {"name": "a1"}})["application_credential"]
    body = {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": made["id"], "secret": made["secret"]}}}}
    token = env.req("POST", "/v3/auth/tokens", json=body).get_json()["token"]
    assert token["project"]["domain"]["id"] == "default"
    env.ok("PATCH", f"/v3/projects/{pid}", json={"project": {"enabled": False}})
    kerr(env.req("POST", "/v3/auth/tokens", json=body), 401, "disabled")
