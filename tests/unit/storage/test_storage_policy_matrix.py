"""Glance, Cinder and S3 policy matrices: every storage route, the status admin/member/reader/other/anon get."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import uuid
from types import SimpleNamespace

import pytest

from appliance import routes
from appliance.testing import policy_matrix as pm
from appliance.testing.policy_matrix import route as R
from services.storage import create_apps
from services.storage.drivers.fake import FakeDriver
from services.storage.policies import POLICIES
from services.storage.s3.credentials import Credential, FakeCredentials, IdentityCredentials
from tests.unit.storage.storage_testlib import S3Signer

M, O = pm.MEMBER_PROJECT, pm.OTHER_PROJECT
OWN = "~"  # Cinder URLs carry the caller's own project, as the catalog's %(project_id)s endpoint gives it
CINDER = "volume 3.44"
PATCH = "application/openstack-images-v2.1-json-patch"
PROJECTS = {"admin": pm.ADMIN_PROJECT, "member": M, "reader": M, "other": O, "anon": M}
# S3 keys: EC2 credentials of each persona (the identity service resolves them to project and roles)
KEYS = {"admin": Credential("AKADMIN0000000000000", "admin-secret-0123456789", pm.ADMIN_PROJECT, "u-admin",
                            roles=("admin", "member", "reader")),
        "member": Credential("AKMEMBER000000000000", "member-secret-0123456789", M, "u-member",
                             roles=("member", "reader")),
        "reader": Credential("AKREADER000000000000", "reader-secret-0123456789", M, "u-reader", roles=("reader",)),
        "other": Credential("AKOTHER0000000000000", "other-secret-0123456789", O, "u-other",
                            roles=("member", "reader"))}


class World:
    """The three storage apps over the fake driver; builds fresh images, volumes and buckets of the member."""

    def __init__(self, apps, tokens):
        self.apps, self.tokens = apps, tokens
        self.image_client, self.volume_client = apps["image"].test_client(), apps["volume"].test_client()
        self.s3 = S3Signer(apps["s3"].test_client())
        self.seq = itertools.count(1)

    def headers(self, persona, **extra):
        token = self.tokens[persona]
        return {**({"X-Auth-Token": token} if token else {}), **extra}

    def call(self, client, method, path, persona="member", **kw):
        headers = self.headers(persona, **kw.pop("headers", {}))
        resp = client.open(path, method=method, headers=headers, **kw)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json(silent=True)

    # -- Glance --------------------------------------------------------------------------------------------------
    def image(self, visibility="private", active=False, tag=None, member=None, deactivated=False):
        img = self.call(self.image_client, "POST", "/v2/images", json={
            "name": f"i{next(self.seq)}", "disk_format": "raw", "container_format": "bare",
            "visibility": visibility, **({"tags": [tag]} if tag else {})})["id"]
        if active or deactivated:
            self.call(self.image_client, "PUT", f"/v2/images/{img}/file", data=b"\0" * 4096,
                      headers={"Content-Type": "application/octet-stream"})
        if deactivated:
            self.call(self.image_client, "POST", f"/v2/images/{img}/actions/deactivate")
        if member:
            self.call(self.image_client, "POST", f"/v2/images/{img}/members", json={"member": member})
        return {"image_id": img, "tag": tag or "none", "member_id": member or "none"}

    # -- Cinder --------------------------------------------------------------------------------------------------
    def cinder(self, method, path, **kw):
        return self.call(self.volume_client, method, path.replace(OWN, M),
                         headers={"OpenStack-API-Version": CINDER}, **kw)

    def volume(self):
        vid = self.cinder("POST", f"/v3/{OWN}/volumes", json={"volume": {"size": 1, "name": "v"}})["volume"]["id"]
        return {"project_id": OWN, "volume_id": vid, "key": "k"}

    def volume_with_metadata(self):
        ids = self.volume()
        self.cinder("POST", f"/v3/{OWN}/volumes/{ids['volume_id']}/metadata", json={"metadata": {"k": "v"}})
        return ids

    def snapshot(self):
        vid = self.volume()["volume_id"]
        sid = self.cinder("POST", f"/v3/{OWN}/snapshots", json={"snapshot": {"volume_id": vid}})["snapshot"]["id"]
        return {"project_id": OWN, "snapshot_id": sid}

    def attachment(self, connector=True):
        vid = self.volume()["volume_id"]
        body = {"volume_uuid": vid, "instance_uuid": str(uuid.uuid4())}
        if connector:
            # an initiator name: exported over iSCSI (the fake target); its view consults the CHAP password rule
            body["connector"] = {"host": "node1", "initiator": "iqn.2026-12.dev.egret:node1"}
        aid = self.cinder("POST", f"/v3/{OWN}/attachments", json={"attachment": body})["attachment"]["id"]
        return {"project_id": OWN, "attachment_id": aid}

    def volume_type(self, spec=False):
        tid = self.call(self.volume_client, "POST", f"/v3/{pm.ADMIN_PROJECT}/types", "admin", json={
            "volume_type": {"name": f"t{next(self.seq)}", **({"extra_specs": {"k": "v"}} if spec else {})}},
            headers={"OpenStack-API-Version": CINDER})["volume_type"]["id"]
        return {"project_id": OWN, "type_id": tid, "key": "k"}

    # -- S3 ------------------------------------------------------------------------------------------------------
    def bucket(self, key=None):
        name = f"b{next(self.seq)}-{uuid.uuid4().hex[:8]}"
        assert self.s3.request("PUT", f"/{name}", cred=KEYS["member"]).status_code == 200
        if key:
            assert self.s3.request("PUT", f"/{name}/{key}", body=b"data", cred=KEYS["member"]).status_code == 200
        return {"bucket": name, "key": key or "k"}


OPEN, AUTHED = "200 200 200 200 200", "200 200 200 200 401"
READ_OWN, WRITE_OWN = "200 200 200 404 401", "200 200 403 404 401"
NO_CONTENT_OWN, ACCEPTED_OWN = "204 204 403 404 401", "202 202 403 404 401"
ADMIN = "200 403 403 403 401"
PROJECT_QUOTA = "200 200 200 403 401"


def vol(**kw):
    return lambda w: {"project_id": OWN, **kw}


IMAGE_ROUTES = [
    # Glance answers 300 Multiple Choices at its root
    R("GET /", "300 300 300 300 300"), R("GET /versions", OPEN), R("GET /healthz", OPEN), R("GET /metrics", OPEN),
    R("GET /v2/schemas/image", AUTHED),
    R("GET /v2/images", AUTHED),
    R("POST /v2/images", "201 201 403 201 401", body={"name": "x", "disk_format": "raw",
                                                      "container_format": "bare"}),
    R("GET /v2/images/<image_id>", READ_OWN, World.image),
    R("PATCH /v2/images/<image_id>", WRITE_OWN, World.image, [{"op": "replace", "path": "/name", "value": "y"}]),
    R("DELETE /v2/images/<image_id>", NO_CONTENT_OWN, World.image),
    R("POST /v2/images/<image_id>/actions/deactivate", NO_CONTENT_OWN, lambda w: w.image(active=True)),
    R("POST /v2/images/<image_id>/actions/reactivate", NO_CONTENT_OWN, lambda w: w.image(deactivated=True)),
    R("PUT /v2/images/<image_id>/file", NO_CONTENT_OWN, World.image, b"\0" * 4096),
    R("GET /v2/images/<image_id>/file", READ_OWN, lambda w: w.image(active=True)),
    R("PUT /v2/images/<image_id>/tags/<tag>", NO_CONTENT_OWN, lambda w: {**w.image(), "tag": "new"}),
    R("DELETE /v2/images/<image_id>/tags/<tag>", NO_CONTENT_OWN, lambda w: w.image(tag="old")),
    # a shared image with the other project as its member: that project sees the image and its own membership,
    # may accept or reject it, and may not add or remove members
    R("GET /v2/images/<image_id>/members", "200 200 200 200 401", lambda w: w.image("shared", member=O)),
    R("POST /v2/images/<image_id>/members", "200 200 403 403 401", lambda w: w.image("shared", member=O),
      {"member": "p-third"}),
    R("GET /v2/images/<image_id>/members/<member_id>", "200 200 200 200 401", lambda w: w.image("shared", member=O)),
    R("PUT /v2/images/<image_id>/members/<member_id>", "200 403 403 200 401", lambda w: w.image("shared", member=O),
      {"status": "accepted"}),
    R("DELETE /v2/images/<image_id>/members/<member_id>", "204 204 403 403 401",
      lambda w: w.image("shared", member=O)),
]

V = "/v3/<project_id>"
VOLUME_ROUTES = [
    # Cinder answers 300 Multiple Choices at its root
    R("GET /", "300 300 300 300 300"), R("GET /v3", OPEN), R("GET /v3/", OPEN),
    R("GET /healthz", OPEN), R("GET /metrics", OPEN),
    R(f"GET {V}/volumes", AUTHED, vol()), R(f"GET {V}/volumes/detail", AUTHED, vol()),
    R(f"POST {V}/volumes", "202 202 403 202 401", vol(), {"volume": {"size": 1}}),
    R(f"GET {V}/volumes/<volume_id>", READ_OWN, World.volume),
    R(f"PUT {V}/volumes/<volume_id>", WRITE_OWN, World.volume, {"volume": {"name": "y"}}),
    R(f"DELETE {V}/volumes/<volume_id>", ACCEPTED_OWN, World.volume),
    R(f"POST {V}/volumes/<volume_id>/action", ACCEPTED_OWN, World.volume, {"os-extend": {"new_size": 2}}),
    R(f"GET {V}/volumes/<volume_id>/metadata", READ_OWN, World.volume_with_metadata),
    R(f"POST {V}/volumes/<volume_id>/metadata", WRITE_OWN, World.volume, {"metadata": {"a": "b"}}),
    R(f"PUT {V}/volumes/<volume_id>/metadata", WRITE_OWN, World.volume, {"metadata": {"a": "b"}}),
    R(f"DELETE {V}/volumes/<volume_id>/metadata/<key>", WRITE_OWN, World.volume_with_metadata),
    R(f"GET {V}/snapshots", AUTHED, vol()), R(f"GET {V}/snapshots/detail", AUTHED, vol()),
    R(f"POST {V}/snapshots", ACCEPTED_OWN, World.volume, lambda i: {"snapshot": {"volume_id": i["volume_id"]}}),
    R(f"GET {V}/snapshots/<snapshot_id>", READ_OWN, World.snapshot),
    R(f"PUT {V}/snapshots/<snapshot_id>", WRITE_OWN, World.snapshot, {"snapshot": {"name": "y"}}),
    R(f"DELETE {V}/snapshots/<snapshot_id>", ACCEPTED_OWN, World.snapshot),
    R(f"GET {V}/attachments", AUTHED, vol()), R(f"GET {V}/attachments/detail", AUTHED, vol()),
    R(f"POST {V}/attachments", WRITE_OWN, World.volume,
      lambda i: {"attachment": {"volume_uuid": i["volume_id"], "instance_uuid": str(uuid.uuid4())}}),
    R(f"GET {V}/attachments/<attachment_id>", READ_OWN, World.attachment),
    R(f"PUT {V}/attachments/<attachment_id>", WRITE_OWN, lambda w: w.attachment(connector=False),
      {"attachment": {"connector": {"host": "node1"}}}),
    R(f"POST {V}/attachments/<attachment_id>/action", NO_CONTENT_OWN, World.attachment, {"os-complete": None}),
    R(f"DELETE {V}/attachments/<attachment_id>", WRITE_OWN, World.attachment),
    # volume types: everyone reads them; only admin manages them
    R(f"GET {V}/types", AUTHED, vol()), R(f"GET {V}/types/default", AUTHED, vol()),
    R(f"GET {V}/types/<type_id>", AUTHED, World.volume_type),
    R(f"POST {V}/types", ADMIN, vol(), {"volume_type": {"name": "new-type"}}),
    R(f"PUT {V}/types/<type_id>", ADMIN, World.volume_type, {"volume_type": {"description": "d"}}),
    R(f"DELETE {V}/types/<type_id>", "202 403 403 403 401", World.volume_type),
    R(f"GET {V}/types/<type_id>/extra_specs", AUTHED, lambda w: w.volume_type(spec=True)),
    R(f"POST {V}/types/<type_id>/extra_specs", ADMIN, World.volume_type, {"extra_specs": {"a": "b"}}),
    R(f"DELETE {V}/types/<type_id>/extra_specs/<key>", "202 403 403 403 401", lambda w: w.volume_type(spec=True)),
    R(f"GET {V}/os-quota-sets/<target>", PROJECT_QUOTA, vol(target=M)),
    R(f"GET {V}/os-quota-sets/<target>/defaults", PROJECT_QUOTA, vol(target=M)),
    R(f"PUT {V}/os-quota-sets/<target>", ADMIN, vol(target=M), {"quota_set": {"volumes": 999}}),
    R(f"GET {V}/limits", AUTHED, vol()), R(f"GET {V}/extensions", AUTHED, vol()),
    R(f"GET {V}/os-availability-zone", AUTHED, vol()),
    # backend pools (Cinder's admin API; compute's service user reads it too)
    R(f"GET {V}/scheduler-stats/get_pools", ADMIN, vol()),
]

# S3 keys carry a project (and its roles): a bucket is its project's alone, as in Swift and RGW (admin of
# another project included); a reader's key reads and does not write; unsigned requests are AccessDenied (403)
DENIED, NOT_ALLOWED = "403 403 403 403 403", "405 405 405 405 403"
S3_ROUTES = [
    R("GET /healthz", OPEN), R("GET /metrics", OPEN),
    R("GET /", "200 200 200 200 403"),
    R("PUT /", NOT_ALLOWED), R("POST /", NOT_ALLOWED), R("DELETE /", NOT_ALLOWED),
    R("PUT /<bucket>", "200 200 403 200 403", lambda w: {"bucket": f"new-{uuid.uuid4().hex[:12]}"}),
    R("GET /<bucket>", "403 200 200 403 403", World.bucket),
    R("DELETE /<bucket>", "403 204 403 403 403", World.bucket),
    R("POST /<bucket>", "403 200 403 403 403", lambda w: w.bucket(key="gone"), {"query": "delete", "data": (
        b"<Delete><Object><Key>gone</Key></Object></Delete>")}),
    R("PUT /<bucket>/<path:key>", "403 200 403 403 403", World.bucket, {"data": b"hello"}),
    R("GET /<bucket>/<path:key>", "403 200 200 403 403", lambda w: w.bucket(key="obj")),
    R("DELETE /<bucket>/<path:key>", "403 204 403 403 403", lambda w: w.bucket(key="obj")),
    R("POST /<bucket>/<path:key>", "403 200 403 403 403", lambda w: w.bucket(key="obj"), {"query": "uploads"}),
]


# every rule in policies.py is consulted by some cell (issue 13 wired volume:all_tenants and image:upload)
UNWIRED = set()

# rows whose bodies reach the admin-only knobs of a route the table above already declares
KNOBS = [
    R("PATCH /v2/images/<image_id>", "200 403 403 404 401", World.image,
      [{"op": "replace", "path": "/visibility", "value": "public"}], note="image:publicize_image"),
    R("POST /v2/images", "201 403 403 403 401", body={"name": "x", "disk_format": "raw", "container_format": "bare",
                                                      "owner": "p-third"}, note="image:set_owner"),
    R(f"POST {V}/volumes/<volume_id>/action", "202 403 403 404 401", World.volume,
      {"os-reset_status": {"status": "error"}}, note="volume:reset_status"),
    # everyone lists; only an admin's list spans every project
    R(f"GET {V}/volumes/detail?all_tenants=1", AUTHED, vol(), note="volume:all_tenants"),
]


@pytest.fixture
def world(settings, mint_token):
    apps = create_apps(settings, driver=FakeDriver(), credentials=FakeCredentials(*KEYS.values()))
    w = World(apps, pm.persona_tokens(mint_token))
    # every cell builds its own volumes
    w.call(w.volume_client, "PUT", f"/v3/{pm.ADMIN_PROJECT}/os-quota-sets/{M}", "admin", json={"quota_set": {
        "volumes": 1000, "snapshots": 1000, "gigabytes": 10000}}, headers={"OpenStack-API-Version": CINDER})
    return w


@pytest.mark.parametrize("app,routes", [("image", IMAGE_ROUTES), ("volume", VOLUME_ROUTES), ("s3", S3_ROUTES)])
def test_every_storage_route_is_in_the_matrix(world, app, routes):
    pm.assert_in_matrix([world.apps[app]], routes)


def _check(cells):
    problems = pm.mismatches(cells)
    assert not problems, "\n" + problems


def _send_image(world):
    def send(persona, method, path, body):
        kw = {"json": body} if isinstance(body, (dict, list)) else {"data": body}
        ctype = PATCH if method == "PATCH" else ("application/octet-stream" if path.endswith("/file") else None)
        resp = world.image_client.open(path, method=method, headers=world.headers(
            persona, **({"Content-Type": ctype} if ctype else {})), **kw)
        return resp.status_code, resp.get_data(as_text=True)
    return send


def _send_volume(world):
    def send(persona, method, path, body):
        path = path.replace(f"/v3/{OWN}/", f"/v3/{PROJECTS[persona]}/")
        resp = world.volume_client.open(path, method=method, json=body,
                                        headers=world.headers(persona, **{"OpenStack-API-Version": CINDER}))
        return resp.status_code, resp.get_data(as_text=True)
    return send


def test_image_policy_matrix(world):
    _check(pm.run(IMAGE_ROUTES + [k for k in KNOBS if k.rule.startswith("/v2/")], world, _send_image(world)))


def test_volume_policy_matrix(world):
    _check(pm.run(VOLUME_ROUTES + [k for k in KNOBS if k.rule.startswith("/v3/")], world, _send_volume(world)))


def test_every_storage_rule_is_checked_by_some_cell(world):
    """Glance's and Cinder's rules live in one table: both matrices together consult every one of them."""
    recorder = pm.RuleRecorder([world.apps["image"], world.apps["volume"]])
    pm.run(IMAGE_ROUTES + KNOBS[:2], world, _send_image(world), personas=("admin", "member", "reader"))
    pm.run(VOLUME_ROUTES + KNOBS[2:], world, _send_volume(world), personas=("admin", "member", "reader"))
    assert recorder.unchecked(POLICIES) == UNWIRED


def _send_s3(world, keys):
    """S3's send: each persona signs with its key in `keys` (anon does not sign); the probes go unsigned."""
    def send(persona, method, path, body):
        body = body or {}
        data = body.get("data", b"")
        headers = {}
        if body.get("query") == "delete":
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        if path in ("/healthz", "/metrics"):
            resp = world.s3.client.open(path, method=method)
        else:
            resp = world.s3.request(method, path, body=data, headers=headers, cred=keys.get(persona),
                                    query=body.get("query", ""), sign=persona != "anon")
        return resp.status_code, resp.get_data(as_text=True)
    return send


def test_s3_policy_matrix(world):
    _check(pm.run(S3_ROUTES, world, _send_s3(world, KEYS)))


def test_matrices_render_as_markdown():
    text = "".join(pm.render_markdown(routes, name) for name, routes in
                   (("image", IMAGE_ROUTES), ("volume", VOLUME_ROUTES), ("s3", S3_ROUTES)))
    assert text.count("### ") == 3
    assert "| PUT | `/<bucket>/<path:key>` | 403 | 200 | 403 | 403 | 403 |" in text


class _Identity:
    """What identity answers the storage service about one EC2 key (its service token's view)."""

    def __init__(self, roles):
        self.roles = roles

    def request(self, target, method, path, expected=None, params=None, **kw):
        if path.startswith("/v3/credentials/"):
            doc = {"credential": {"type": "ec2", "project_id": M, "user_id": "u1",
                                  "blob": json.dumps({"access": "AKR", "secret": "s"})}}
        elif path.startswith("/v3/users/"):
            doc = {"user": {"enabled": True}}
        else:
            assert "include_names" in params and "effective" in params
            doc = {"role_assignments": [{"role": {"id": f"id-{r}", "name": r}} for r in self.roles]}
        return SimpleNamespace(status_code=200, json=lambda: doc)


def test_an_ec2_key_carries_its_users_roles(settings):
    reader = IdentityCredentials(settings, client=_Identity(["reader"])).lookup("AKR")
    assert reader.roles == ("reader",) and not reader.can_write
    member = IdentityCredentials(settings, client=_Identity(["member", "reader"])).lookup("AKR")
    assert member.can_write and member.project_id == M
    assert IdentityCredentials(settings, client=_Identity([])).lookup("AKR") is None


# -- the declared table (appliance/routes.py) agrees with what is served and with the matrices above ---------------
@pytest.mark.parametrize("app", ["image", "volume", "s3"])
def test_every_served_storage_route_is_declared(world, app):
    assert pm.undeclared(world.apps[app]) == (set(), set())


def test_every_storage_rule_is_used_by_some_route(world):
    declared = [r for app in world.apps.values() for r in routes.declared(app)]
    assert pm.unused_rules(declared, POLICIES) == set()



def _named_target(route, texts) -> dict | None:
    """The target a rule really checks when it is not the caller's or the loaded resource's project: the image's
    owner (Glance), the project a quota path names. The matrix's rows act on the member's images and quotas."""
    if route.rule in routes.NON_POLICY:
        return None
    if "%(owner)s" in texts[route.rule]:
        return {"owner": M}
    if "<target>" in route.path:
        return {"project_id": M}
    return None


@pytest.mark.parametrize("app,matrix", [("image", IMAGE_ROUTES), ("volume", VOLUME_ROUTES)])
def test_storage_matrix_agrees_with_the_declared_rules(world, app, matrix):
    app = world.apps[app]
    enforcer = app.extensions["egret.policy"]
    declared = {r.key: r for r in routes.declared(app)}
    named = {key: t for key, r in declared.items() if (t := _named_target(r, enforcer.texts)) is not None}
    reason = "the rule checks the image's owner or the project the path names; checked against that target below"
    assert pm.agrees_with_rules(matrix, list(declared.values()), enforcer, dict.fromkeys(named, reason)) == []
    problems = []
    for row in (r for r in matrix if r.key in named):
        for persona, creds in pm.PERSONA_CREDS.items():
            allowed = enforcer.check(declared[row.key].rule, named[row.key], {**creds, "scope": "project"})
            got = row.expect[persona]
            if (allowed and got == 403) or (not allowed and got not in (403, 404)):
                problems.append(f"{row.method} {row.rule} as {persona}: allowed={allowed}, the matrix says {got}")
        if row.expect["anon"] != 401:
            problems.append(f"{row.method} {row.rule}: needs a token but the matrix says {row.expect['anon']}")
    assert problems == []
