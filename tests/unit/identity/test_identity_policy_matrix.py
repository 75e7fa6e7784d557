"""Keystone policy matrix: every route of the identity app, the status admin/member/reader/other/anon get."""
from __future__ import annotations

import itertools

import pytest

from appliance import routes
from appliance.testing import policy_matrix as pm
from appliance.testing.policy_matrix import route as R
from services.identity.policies import POLICIES

PASSWORD = "User-Pass-1"


class World:
    """The bootstrapped identity app, persona users holding real roles, and fresh resources per cell."""

    def __init__(self, env, mint_token):
        self.env, self.mint = env, mint_token
        self.seq = itertools.count(1)
        self.project = env.project("p-matrix")
        self.other_project = env.project("p-matrix-other")
        self.users = {"member": env.user("m-user", PASSWORD, self.project, "member"),
                      "reader": env.user("r-user", PASSWORD, self.project, "reader"),
                      "other": env.user("o-user", PASSWORD, self.other_project, "member")}
        admin = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
        admin_project = env.ok("GET", "/v3/projects?name=admin")["projects"][0]["id"]
        self.users["admin"] = admin
        self.tokens = pm.persona_tokens(mint_token, users=self.users, projects={
            "admin": admin_project, "member": self.project, "reader": self.project, "other": self.other_project})
        self.member_role = env.role_id("member")

    @property
    def member(self):
        return self.users["member"]

    def name(self, prefix):
        return f"{prefix}{next(self.seq)}"

    def as_member(self, method, path, json=None):
        return self.env.ok(method, path, self.tokens["member"], json)

    # -- fresh resources (made by the admin unless the member owns them) ------------------------------------------
    def fresh_user(self):
        return {"user_id": self.env.user(self.name("u"), PASSWORD)}

    def fresh_project(self):
        return {"project_id": self.env.project(self.name("p"))}

    def fresh_domain(self, enabled=True):
        did = self.env.ok("POST", "/v3/domains", json={"domain": {"name": self.name("d"),
                                                                    "enabled": enabled}})["domain"]["id"]
        return {"domain_id": did}

    def fresh_group(self, with_user=False):
        gid = self.env.ok("POST", "/v3/groups", json={"group": {"name": self.name("g"),
                                                                  "domain_id": "default"}})["group"]["id"]
        uid = self.fresh_user()["user_id"]
        if with_user:
            self.env.ok("PUT", f"/v3/groups/{gid}/users/{uid}")
        return {"group_id": gid, "user_id": uid}

    def fresh_role(self):
        return {"role_id": self.env.ok("POST", "/v3/roles", json={"role": {"name": self.name("r")}})["role"]["id"]}

    def implied_pair(self, linked=False):
        prior, implied = self.fresh_role()["role_id"], self.fresh_role()["role_id"]
        if linked:
            self.env.ok("PUT", f"/v3/roles/{prior}/implies/{implied}", status=201)
        return {"prior_id": prior, "implied_id": implied}

    def grant(self, target="projects", granted=False, system=False):
        uid = self.fresh_user()["user_id"]
        ids = {"targets": target, "target_id": self.project if target == "projects" else "default",
               "actors": "users", "actor_id": uid, "role_id": self.member_role}
        if granted:
            base = "/v3/system" if system else f"/v3/{ids['targets']}/{ids['target_id']}"
            self.env.ok("PUT", f"{base}/users/{uid}/roles/{self.member_role}")
        return ids

    def region(self):
        return {"region_id": self.env.ok("POST", "/v3/regions", json={"region": {"id": self.name("reg")}})[
            "region"]["id"]}

    def service(self):
        return {"service_id": self.env.ok("POST", "/v3/services", json={"service": {
            "type": self.name("type"), "name": self.name("svc")}})["service"]["id"]}

    def endpoint(self):
        sid = self.service()["service_id"]
        return {"endpoint_id": self.env.ok("POST", "/v3/endpoints", json={"endpoint": {
            "service_id": sid, "interface": "public", "url": "http://127.0.0.1:1/"}})["endpoint"]["id"],
            "service_id": sid}

    def credential(self):
        cid = self.as_member("POST", "/v3/credentials", {"credential": {
            "type": "cert", "user_id": self.member, "blob": "x"}})["credential"]["id"]
        return {"cred_id": cid}

    def app_cred(self):
        cid = self.as_member("POST", f"/v3/users/{self.member}/application_credentials", {
            "application_credential": {"name": self.name("ac")}})["application_credential"]["id"]
        return {"user_id": self.member, "cred_id": cid}

    def ec2(self):
        access = self.as_member("POST", f"/v3/users/{self.member}/credentials/OS-EC2",
                                {"tenant_id": self.project})["credential"]["access"]
        return {"user_id": self.member, "access": access}

    def subject_token(self):
        # a fresh token of the member: validating or revoking it touches nothing else
        return {"subject": self.mint(user_id=self.member, project_id=self.project, roles=["member", "reader"])}


OPEN, AUTHED = "200 200 200 200 200", "200 200 200 200 401"
ADMIN, ADMIN_CREATE, ADMIN_DELETE = "200 403 403 403 401", "201 403 403 403 401", "204 403 403 403 401"
SELF, SELF_CREATE, SELF_DELETE = "200 200 403 403 401", "201 201 403 403 401", "204 204 403 403 401"
# roles, services and endpoints are read by operators only, as in Keystone (a user has the catalog in its token)
OPERATOR_READ, OPERATOR_CHECK = ADMIN, "204 403 403 403 401"
# another user's credential does not exist for the caller (Keystone answers 403; Egret hides its id)
HIDDEN, HIDDEN_DELETE = "200 200 404 404 401", "204 204 404 404 401"


def me(w):
    return {"user_id": w.member}


def grant(**kw):
    return lambda w: w.grant(**kw)


UNWIRED: set[str] = set()  # every identity rule is consulted by some route

ROUTES = [
    # Keystone answers 300 Multiple Choices at its root
    R("GET /", "300 300 300 300 300"), R("GET /v3", OPEN), R("GET /v3/", OPEN),
    R("GET /healthz", OPEN), R("GET /metrics", OPEN),
    # authentication: anyone with a password gets a token; validating and revoking is the token's owner's (or an
    # operator's) business
    R("POST /v3/auth/tokens", "201 201 201 201 201", body={"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "m-user", "domain": {"id": "default"}, "password": PASSWORD}}}}}),
    R("GET /v3/auth/tokens", SELF, World.subject_token),
    R("DELETE /v3/auth/tokens", SELF_DELETE, World.subject_token),
    R("GET /v3/auth/catalog", AUTHED), R("GET /v3/auth/projects", AUTHED), R("GET /v3/auth/domains", AUTHED),
    R("GET /v3/auth/system", AUTHED),
    # domains, projects, users, groups: operators manage them; a user sees itself, its projects and its domain
    R("GET /v3/domains", ADMIN),
    R("POST /v3/domains", ADMIN_CREATE, body={"domain": {"name": "new-domain"}}),
    R("GET /v3/domains/<domain_id>", ADMIN, World.fresh_domain),
    R("PATCH /v3/domains/<domain_id>", ADMIN, World.fresh_domain, {"domain": {"description": "d"}}),
    R("DELETE /v3/domains/<domain_id>", ADMIN_DELETE, lambda w: w.fresh_domain(enabled=False)),
    R("GET /v3/projects", ADMIN),
    R("POST /v3/projects", ADMIN_CREATE, body={"project": {"name": "new-project", "domain_id": "default"}}),
    R("GET /v3/projects/<project_id>", "200 200 200 403 401", lambda w: {"project_id": w.project}),
    R("PATCH /v3/projects/<project_id>", ADMIN, World.fresh_project, {"project": {"description": "d"}}),
    R("DELETE /v3/projects/<project_id>", ADMIN_DELETE, World.fresh_project),
    R("GET /v3/users", ADMIN),
    R("POST /v3/users", ADMIN_CREATE, body={"user": {"name": "new-user", "domain_id": "default"}}),
    R("GET /v3/users/<user_id>", SELF, me),
    R("PATCH /v3/users/<user_id>", ADMIN, World.fresh_user, {"user": {"description": "d"}}),
    R("DELETE /v3/users/<user_id>", ADMIN_DELETE, World.fresh_user),
    R("GET /v3/users/<user_id>/projects", SELF, me),
    R("GET /v3/users/<user_id>/groups", SELF, me),
    R("GET /v3/groups", ADMIN),
    R("POST /v3/groups", ADMIN_CREATE, body={"group": {"name": "new-group", "domain_id": "default"}}),
    R("GET /v3/groups/<group_id>", ADMIN, World.fresh_group),
    R("PATCH /v3/groups/<group_id>", ADMIN, World.fresh_group, {"group": {"description": "d"}}),
    R("DELETE /v3/groups/<group_id>", ADMIN_DELETE, World.fresh_group),
    R("GET /v3/groups/<group_id>/users", ADMIN, World.fresh_group),
    R("PUT /v3/groups/<group_id>/users/<user_id>", ADMIN_DELETE, World.fresh_group),
    R("GET /v3/groups/<group_id>/users/<user_id>", ADMIN_DELETE, lambda w: w.fresh_group(with_user=True)),
    R("DELETE /v3/groups/<group_id>/users/<user_id>", ADMIN_DELETE, lambda w: w.fresh_group(with_user=True)),
    # roles, implied roles, grants and assignments: operators manage them (and only they read them)
    R("GET /v3/roles", OPERATOR_READ),
    R("POST /v3/roles", ADMIN_CREATE, body={"role": {"name": "new-role"}}),
    R("GET /v3/roles/<role_id>", OPERATOR_READ, World.fresh_role),
    R("PATCH /v3/roles/<role_id>", ADMIN, World.fresh_role, {"role": {"description": "d"}}),
    R("DELETE /v3/roles/<role_id>", ADMIN_DELETE, World.fresh_role),
    R("GET /v3/roles/<prior_id>/implies", OPERATOR_READ, lambda w: w.implied_pair(linked=True)),
    R("PUT /v3/roles/<prior_id>/implies/<implied_id>", ADMIN_CREATE, World.implied_pair),
    R("GET /v3/roles/<prior_id>/implies/<implied_id>", OPERATOR_CHECK, lambda w: w.implied_pair(linked=True)),
    R("DELETE /v3/roles/<prior_id>/implies/<implied_id>", ADMIN_DELETE, lambda w: w.implied_pair(linked=True)),
    R("GET /v3/role_inferences", OPERATOR_READ),
    R("GET /v3/<any(projects, domains):targets>/<target_id>/<any(users, groups):actors>/<actor_id>/roles", ADMIN,
      grant(granted=True)),
    R("PUT /v3/<any(projects, domains):targets>/<target_id>/<any(users, groups):actors>/<actor_id>/roles/<role_id>",
      ADMIN_DELETE, grant()),
    R("GET /v3/<any(projects, domains):targets>/<target_id>/<any(users, groups):actors>/<actor_id>/roles/<role_id>",
      ADMIN_DELETE, grant(granted=True)),
    R("DELETE /v3/<any(projects, domains):targets>/<target_id>/<any(users, groups):actors>/<actor_id>/roles/"
      "<role_id>", ADMIN_DELETE, grant(granted=True)),
    R("GET /v3/system/<any(users, groups):actors>/<actor_id>/roles", ADMIN, grant(granted=True, system=True)),
    R("PUT /v3/system/<any(users, groups):actors>/<actor_id>/roles/<role_id>", ADMIN_DELETE, grant()),
    R("GET /v3/system/<any(users, groups):actors>/<actor_id>/roles/<role_id>", ADMIN_DELETE,
      grant(granted=True, system=True)),
    R("DELETE /v3/system/<any(users, groups):actors>/<actor_id>/roles/<role_id>", ADMIN_DELETE,
      grant(granted=True, system=True)),
    R("GET /v3/role_assignments", ADMIN),
    # the catalog: operators manage and read it
    R("GET /v3/regions", AUTHED),
    R("POST /v3/regions", ADMIN_CREATE, body={"region": {"description": "r"}}),
    R("PUT /v3/regions/<region_id>", ADMIN_CREATE, lambda w: {"region_id": w.name("put-reg")},
      {"region": {"description": "r"}}),
    R("GET /v3/regions/<region_id>", AUTHED, World.region),
    R("PATCH /v3/regions/<region_id>", ADMIN, World.region, {"region": {"description": "d"}}),
    R("DELETE /v3/regions/<region_id>", ADMIN_DELETE, World.region),
    R("GET /v3/services", OPERATOR_READ),
    R("POST /v3/services", ADMIN_CREATE, body={"service": {"type": "new-type"}}),
    R("GET /v3/services/<service_id>", OPERATOR_READ, World.service),
    R("PATCH /v3/services/<service_id>", ADMIN, World.service, {"service": {"description": "d"}}),
    R("DELETE /v3/services/<service_id>", ADMIN_DELETE, World.service),
    R("GET /v3/endpoints", OPERATOR_READ),
    R("POST /v3/endpoints", ADMIN_CREATE, World.service, lambda i: {"endpoint": {
        "service_id": i["service_id"], "interface": "internal", "url": "http://127.0.0.1:2/"}}),
    R("GET /v3/endpoints/<endpoint_id>", OPERATOR_READ, World.endpoint),
    R("PATCH /v3/endpoints/<endpoint_id>", ADMIN, World.endpoint, {"endpoint": {"url": "http://127.0.0.1:3/"}}),
    R("DELETE /v3/endpoints/<endpoint_id>", ADMIN_DELETE, World.endpoint),
    # a user's own credentials: the user (and an operator) manage them; everyone lists only their own
    R("GET /v3/credentials", AUTHED),
    R("POST /v3/credentials", SELF_CREATE, me, lambda i: {"credential": {"type": "cert", "user_id": i["user_id"],
                                                                         "blob": "y"}}),
    R("GET /v3/credentials/<cred_id>", HIDDEN, World.credential, note="Keystone: 403"),
    R("PATCH /v3/credentials/<cred_id>", HIDDEN, World.credential, {"credential": {"blob": "z"}},
      note="Keystone: 403"),
    R("DELETE /v3/credentials/<cred_id>", HIDDEN_DELETE, World.credential, note="Keystone: 403"),
    R("GET /v3/users/<user_id>/credentials/OS-EC2", SELF, me),
    R("POST /v3/users/<user_id>/credentials/OS-EC2", SELF_CREATE, me, lambda i: {"tenant_id": "PROJECT"}),
    R("GET /v3/users/<user_id>/credentials/OS-EC2/<access>", SELF, World.ec2),
    R("DELETE /v3/users/<user_id>/credentials/OS-EC2/<access>", SELF_DELETE, World.ec2),
    # application credentials act as their user: only that user creates them, as in Keystone
    R("GET /v3/users/<user_id>/application_credentials", SELF, me),
    R("POST /v3/users/<user_id>/application_credentials", "403 201 403 403 401", me,
      lambda i: {"application_credential": {"name": f"ac-{id(i)}"}}),
    R("GET /v3/users/<user_id>/application_credentials/<cred_id>", SELF, World.app_cred),
    R("DELETE /v3/users/<user_id>/application_credentials/<cred_id>", SELF_DELETE, World.app_cred),
    # last: a password change revokes the user's tokens
    R("POST /v3/users/<user_id>/password", "403 204 403 403 401", me,
      {"user": {"original_password": PASSWORD, "password": PASSWORD}},
      note="Keystone leaves it unenforced: the original password suffices"),
]


@pytest.fixture
def world(env, mint_token):
    return World(env, mint_token)


def test_every_identity_route_is_in_the_matrix(world):
    pm.assert_in_matrix([world.env.app], ROUTES)


def identity_send(world):
    """identity's send: the subject token in X-Subject-Token, the world's project for the EC2 key's tenant."""
    def send(persona, method, path, body):
        headers = {}
        if path.startswith("/v3/auth/tokens") and method != "POST":
            # the subject token rides in the path's place: the rule has no variable for it
            headers["X-Subject-Token"] = world.last_subject
        if isinstance(body, dict) and body.get("tenant_id") == "PROJECT":
            body = {"tenant_id": world.project}
        resp = world.env.req(method, path, world.tokens[persona], json=body, headers=headers)
        return resp.status_code, resp.get_data(as_text=True)
    return send


def _make_subject(w):
    # the subject token is no path variable: the world keeps it for send() to put in X-Subject-Token
    w.last_subject = w.subject_token()["subject"]
    return {}


def subject_rows(rows: list[pm.Route]) -> list[pm.Route]:
    """The rows with each World.subject_token maker replaced by one that keeps the token for identity_send."""
    return [pm.Route(r.method, r.rule, r.expect, _make_subject, r.body, r.note)
            if r.make is World.subject_token else r for r in rows]


def test_identity_policy_matrix(world):
    routes = subject_rows(ROUTES)
    recorder = pm.RuleRecorder([world.env.app])
    cells = pm.run(routes, world, identity_send(world))
    assert len(cells) == len(ROUTES) * len(pm.PERSONAS)
    problems = pm.mismatches(cells)
    assert not problems, "\n" + problems
    # every declared rule is evaluated by some cell, but those the code does not consult yet
    assert recorder.unchecked(POLICIES) == UNWIRED


def test_role_names_of_a_key_owner_as_storage_asks_for_them(world):
    """S3 decides a key's write rights from this answer (services/storage/s3/credentials.py)."""
    def names(persona):
        doc = world.env.ok("GET", f"/v3/role_assignments?user.id={world.users[persona]}"
                                  f"&scope.project.id={world.project}&effective&include_names")
        return {a["role"]["name"] for a in doc["role_assignments"]}
    assert "reader" in names("reader") and not {"member", "admin"} & names("reader")
    assert "member" in names("member")
    assert names("other") == set()


def test_identity_matrix_renders_as_markdown():
    table = pm.render_markdown(ROUTES, "identity")
    assert table.count("\n| ") == len(ROUTES) + 1
    assert "| GET | `/v3/users/<user_id>` | 200 | 200 | 403 | 403 | 401 |  |" in table
    assert "| GET | `/v3/roles` | 200 | 403 | 403 | 403 | 401 |  |" in table


# -- the declared table (appliance/routes.py) agrees with what is served and with the matrix above ----------------
def test_every_served_identity_route_is_declared(world):
    assert pm.undeclared(world.env.app) == (set(), set())


def test_every_identity_rule_is_checked_by_some_route(world):
    # a helper rule (admin_required) counts as used when a used rule refers to it ("rule:admin_required")
    texts = world.env.app.extensions["egret.policy"].texts
    assert pm.unused_rules(routes.declared(world.env.app), POLICIES, texts) == set()



def _named_target(route, texts) -> dict | None:
    """The target a rule really checks when it is the user or project the request names, not the caller's project.

    The matrix's rows act on the member's own user (its id, its credentials, its token) or the member's project."""
    text = texts[route.rule]
    if "%(target.user_id)s" in text:
        # the role_assignments row lists every assignment: its query names no user (no user.id)
        return {"user_id": None if route.path == "/v3/role_assignments" else "u-member", "token_domain_id": "-"}
    if "%(target.project_id)s" in text and "<project_id>" in route.path:
        return {"project_id": pm.MEMBER_PROJECT, "token_domain_id": "-"}
    return None


def test_identity_matrix_agrees_with_the_declared_rules(world):
    app = world.env.app
    enforcer = app.extensions["egret.policy"]
    declared = {r.key: r for r in routes.declared(app)}
    named = {key: t for key, r in declared.items()
             if r.rule not in routes.NON_POLICY and (t := _named_target(r, enforcer.texts)) is not None}
    reason = "the rule checks the user or project the request names; checked against that target below"
    assert pm.agrees_with_rules(ROUTES, list(declared.values()), enforcer, dict.fromkeys(named, reason)) == []
    problems = []
    for row in (r for r in ROUTES if r.key in named):
        route = declared[row.key]
        if row.expect["anon"] != 401:
            problems.append(f"{row.method} {row.rule}: needs a token but the matrix says {row.expect['anon']}")
        for persona, creds in pm.PERSONA_CREDS.items():
            allowed = enforcer.check(route.rule, named[row.key], {**creds, "user_id": f"u-{persona}",
                                                                  "scope": "project"})
            got = row.expect[persona]
            if (allowed and got == 403) or (not allowed and got not in (403, 404)):
                problems.append(f"{row.method} {row.rule} as {persona}: {route.rule} says {allowed}, matrix {got}")
    assert problems == []
