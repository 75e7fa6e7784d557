"""Nova policy matrix: every route of the compute app, the status admin/member/reader/other/anon get."""
from __future__ import annotations

import itertools
import subprocess
import uuid

import pytest


from appliance import routes
from appliance.db import open_service_database
from appliance.testing import policy_matrix as pm
from appliance.testing.policy_matrix import route as R
from services.compute import build_api, models
from services.compute.drivers.fake import FakeDriver
from services.compute.fakes import fake_clients
from services.compute.metadata import build_metadata_app
from services.compute.policies import POLICIES

M = pm.MEMBER_PROJECT
ROLES = {"admin": (pm.ADMIN_PROJECT, ["admin", "member", "reader"]), "member": (M, ["member", "reader"]),
         "reader": (M, ["reader"]), "other": (pm.OTHER_PROJECT, ["member", "reader"])}


class World:
    """The compute API over the fake driver and fake clients; builds fresh resources of the member's project."""

    def __init__(self, app, clients, tokens, disk):
        self.app, self.client, self.clients, self.tokens = app, app.test_client(), clients, tokens
        self.seq = itertools.count(1)
        for persona, (project, roles) in ROLES.items():
            clients["network"].auth.register(tokens[persona], project, roles)
        self.net = clients["network"].add_network("private", M)
        self.image = clients["image"].add_image(path=str(disk), name="tiny")["id"]

    def call(self, persona, method, path, body=None, status=None):
        resp = self.client.open(path, method=method, json=body, headers=self.headers(persona))
        assert resp.status_code < 300 if status is None else resp.status_code == status, (
            method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json(silent=True)

    def headers(self, persona):
        token = self.tokens[persona]
        return {"OpenStack-API-Version": "compute 2.79", **({"X-Auth-Token": token} if token else {})}

    def server(self):
        sid = self.call("member", "POST", "/v2.1/servers", {"server": {
            "name": f"vm{next(self.seq)}", "imageRef": self.image, "flavorRef": "6",
            "networks": [{"uuid": self.net["id"]}]}})["server"]["id"]
        return {"server_id": sid}

    def server_action(self):
        ids = self.server()
        acts = self.call("member", "GET", f"/v2.1/servers/{ids['server_id']}/os-instance-actions")["instanceActions"]
        return {**ids, "request_id": acts[0]["request_id"]}

    def server_with_port(self):
        ids = self.server()
        with models.database.connection_context():
            inst = models.Instance.get_by_id(ids["server_id"])
            ids["port_id"] = inst.ports[0]["port_id"] if inst.ports else "no-port"
        return ids

    def volume(self):
        return self.clients["volume"].add_volume(M, name=f"v{next(self.seq)}")["id"]

    def server_and_volume(self):
        return {**self.server(), "volume_id": self.volume()}

    def server_with_volume(self):
        ids = self.server_and_volume()
        self.call("member", "POST", f"/v2.1/servers/{ids['server_id']}/os-volume_attachments",
                  {"volumeAttachment": {"volumeId": ids["volume_id"]}})
        return ids

    def flavor(self, public=True, spec=False):
        fid = self.call("admin", "POST", "/v2.1/flavors", {"flavor": {
            "name": f"f{next(self.seq)}", "ram": 64, "vcpus": 1, "disk": 0,
            "os-flavor-access:is_public": public}})["flavor"]["id"]
        if spec:
            self.call("admin", "POST", f"/v2.1/flavors/{fid}/os-extra_specs", {"extra_specs": {"hw:cpu_policy":
                                                                                                 "shared"}})
        return {"flavor_id": fid, "key": "hw:cpu_policy"}

    def keypair(self):
        name = f"k{next(self.seq)}"
        self.call("member", "POST", "/v2.1/os-keypairs", {"keypair": {"name": name}})
        return {"name": name}

    def hypervisor(self):
        # from 2.53 a hypervisor's id is a UUID derived from its host name
        return {"hid": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.app.extensions["egret.manager"].host))}

    def service(self):
        # from 2.53 a service's id is a UUID derived from its host name
        return {"sid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.app.extensions["egret.manager"].host))}

    def server_group(self):
        return {"group_id": self.call("member", "POST", "/v2.1/os-server-groups", {"server_group": {
            "name": f"g{next(self.seq)}", "policy": "anti-affinity"}})["server_group"]["id"]}


OPEN, AUTHED, ADMIN = "200 200 200 200 200", "200 200 200 200 401", "200 403 403 403 401"
READ_OWN, WRITE_OWN = "200 200 200 404 401", "200 200 403 404 401"
ACCEPTED_OWN = "202 202 403 404 401"
PROJECT_QUOTA = "200 200 200 403 401"  # another project's quota URL is refused, not hidden


def flavor(**kw):
    return lambda w: w.flavor(**kw)


def quota(w):
    return {"project_id": M}


ROUTES = [
    R("GET /", OPEN), R("GET /v2.1", OPEN), R("GET /v2.1/", OPEN), R("GET /healthz", OPEN), R("GET /metrics", OPEN),
    # servers: readers read, members write, another project's servers do not exist for it
    R("GET /v2.1/servers", AUTHED), R("GET /v2.1/servers/detail", AUTHED),
    R("POST /v2.1/servers", "202 202 403 202 401",
      body={"server": {"name": "x", "imageRef": "IMAGE", "flavorRef": "6", "networks": "none"}}),
    R("GET /v2.1/servers/<server_id>", READ_OWN, World.server),
    R("PUT /v2.1/servers/<server_id>", WRITE_OWN, World.server, {"server": {"name": "renamed"}}),
    R("DELETE /v2.1/servers/<server_id>", "204 204 403 404 401", World.server),
    R("POST /v2.1/servers/<server_id>/action", ACCEPTED_OWN, World.server, {"reboot": {"type": "SOFT"}}),
    R("GET /v2.1/os-migrations", ADMIN),
    R("GET /v2.1/servers/<server_id>/os-instance-actions", READ_OWN, World.server),
    R("GET /v2.1/servers/<server_id>/os-instance-actions/<request_id>", READ_OWN, World.server_action),
    # admins only (Nova's os-evacuate, os-migrate-server:migrate); an admin's 400: one node, and it is up
    R("POST /v2.1/servers/<server_id>/action", "400 403 403 404 401", World.server, {"evacuate": {}},
      "os_compute_api:os-evacuate"),
    R("POST /v2.1/servers/<server_id>/action", "400 403 403 404 401", World.server, {"migrate": None},
      "os_compute_api:os-migrate-server:migrate"),
    R("GET /v2.1/servers/<server_id>/os-interface", READ_OWN, World.server),
    R("POST /v2.1/servers/<server_id>/os-interface", WRITE_OWN, World.server,
      body=None),  # the body names the member's network: filled in by the test
    R("GET /v2.1/servers/<server_id>/os-interface/<port_id>", READ_OWN, World.server_with_port),
    R("DELETE /v2.1/servers/<server_id>/os-interface/<port_id>", ACCEPTED_OWN, World.server_with_port),
    R("GET /v2.1/servers/<server_id>/os-volume_attachments", READ_OWN, World.server),
    R("POST /v2.1/servers/<server_id>/os-volume_attachments", WRITE_OWN, World.server_and_volume,
      lambda i: {"volumeAttachment": {"volumeId": i["volume_id"]}}),
    R("GET /v2.1/servers/<server_id>/os-volume_attachments/<volume_id>", READ_OWN, World.server_with_volume),
    R("DELETE /v2.1/servers/<server_id>/os-volume_attachments/<volume_id>", ACCEPTED_OWN, World.server_with_volume),
    # flavors: everyone reads public flavors; only admin manages them and their access lists
    R("GET /v2.1/flavors", AUTHED), R("GET /v2.1/flavors/detail", AUTHED),
    R("POST /v2.1/flavors", ADMIN, body={"flavor": {"name": "new", "ram": 64, "vcpus": 1, "disk": 0}}),
    R("GET /v2.1/flavors/<flavor_id>", AUTHED, flavor()),
    R("PUT /v2.1/flavors/<flavor_id>", ADMIN, flavor(), {"flavor": {"description": "d"}}),
    R("DELETE /v2.1/flavors/<flavor_id>", "202 403 403 403 401", flavor()),
    R("POST /v2.1/flavors/<flavor_id>/action", ADMIN, flavor(public=False), {"addTenantAccess": {"tenant": M}}),
    R("GET /v2.1/flavors/<flavor_id>/os-flavor-access", ADMIN, flavor(public=False)),
    R("GET /v2.1/flavors/<flavor_id>/os-extra_specs", AUTHED, flavor(spec=True)),
    R("POST /v2.1/flavors/<flavor_id>/os-extra_specs", ADMIN, flavor(),
      {"extra_specs": {"hw:cpu_policy": "shared"}}),
    R("GET /v2.1/flavors/<flavor_id>/os-extra_specs/<key>", AUTHED, flavor(spec=True)),
    R("PUT /v2.1/flavors/<flavor_id>/os-extra_specs/<key>", ADMIN, flavor(spec=True),
      {"hw:cpu_policy": "dedicated"}),
    R("DELETE /v2.1/flavors/<flavor_id>/os-extra_specs/<key>", ADMIN, flavor(spec=True)),
    # keypairs belong to a user: every user has their own; another user's key (admin's too) is not found
    R("GET /v2.1/os-keypairs", AUTHED),
    R("POST /v2.1/os-keypairs", "201 201 201 201 401", body={"keypair": {"name": "mine"}}),
    R("GET /v2.1/os-keypairs/<name>", "404 200 404 404 401", World.keypair),
    R("DELETE /v2.1/os-keypairs/<name>", "404 204 404 404 401", World.keypair),
    R("GET /v2.1/limits", AUTHED),
    R("GET /v2.1/os-availability-zone", AUTHED),
    R("GET /v2.1/os-availability-zone/detail", ADMIN),
    R("GET /v2.1/os-hypervisors", ADMIN), R("GET /v2.1/os-hypervisors/detail", ADMIN),
    R("GET /v2.1/os-hypervisors/statistics", ADMIN),
    R("GET /v2.1/os-hypervisors/<hid>", ADMIN, World.hypervisor),
    R("GET /v2.1/os-hypervisors/<hid>/uptime", "501 403 403 403 401", World.hypervisor),
    R("GET /v2.1/os-services", ADMIN),
    R("PUT /v2.1/os-services/<sid>", ADMIN, World.service, {"status": "enabled"}),
    R("GET /v2.1/os-aggregates", ADMIN),
    R("GET /v2.1/os-server-groups", AUTHED),
    R("POST /v2.1/os-server-groups", "200 200 403 200 401",
      body={"server_group": {"name": "g", "policy": "affinity"}}),
    R("GET /v2.1/os-server-groups/<group_id>", READ_OWN, World.server_group),
    R("DELETE /v2.1/os-server-groups/<group_id>", "204 204 403 404 401", World.server_group),
    # last: resetting the member's quotas must not starve the rows above
    R("GET /v2.1/os-quota-sets/<project_id>", PROJECT_QUOTA, quota),
    R("GET /v2.1/os-quota-sets/<project_id>/detail", PROJECT_QUOTA, quota),
    R("GET /v2.1/os-quota-sets/<project_id>/defaults", AUTHED, quota),
    R("PUT /v2.1/os-quota-sets/<project_id>", ADMIN, quota, {"quota_set": {"instances": 20}}),
    R("DELETE /v2.1/os-quota-sets/<project_id>", "202 403 403 403 401", quota),
]


@pytest.fixture
def world(settings, mint_token, tmp_path):
    settings.service["compute"] = {"instances_dir": str(tmp_path / "instances"), "shutdown_timeout": 0}
    open_service_database(settings, "compute", models.database)
    clients = fake_clients()
    app = build_api(settings, FakeDriver(prefix="egpm-"), clients, synchronous=True)
    with models.database.connection_context():
        app.extensions["egret.manager"].set_quotas(M, {"instances": 1000, "cores": 1000, "ram": 10 ** 7,
                                                                    "server_groups": 1000})
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    return World(app, clients, pm.persona_tokens(mint_token), disk)


def test_every_compute_route_is_in_the_matrix(world):
    pm.assert_in_matrix([world.app], ROUTES)


def compute_send(world):
    """compute's send: the world's own network and image go into the bodies that need them."""
    def send(persona, method, path, body):
        if path.endswith("/os-interface") and method == "POST":
            body = {"interfaceAttachment": {"net_id": world.net["id"]}}
        if path == "/v2.1/servers" and method == "POST":
            body = {"server": {**body["server"], "imageRef": world.image}}
        resp = world.client.open(path, method=method, json=body, headers=world.headers(persona))
        return resp.status_code, resp.get_data(as_text=True)
    return send


def test_compute_policy_matrix(world):
    recorder = pm.RuleRecorder([world.app])
    cells = pm.run(ROUTES, world, compute_send(world))
    assert len(cells) == len(ROUTES) * len(pm.PERSONAS)
    problems = pm.mismatches(cells)
    assert not problems, "\n" + problems
    # every declared rule is evaluated by some cell
    assert recorder.unchecked(POLICIES) == set()


def test_console_output_needs_member_as_in_nova(world):
    """os-getConsoleOutput rides the action URL; Nova's default gives it to members, not readers."""
    sid = world.server()["server_id"]
    body = {"os-getConsoleOutput": {"length": 10}}
    got = {p: world.client.post(f"/v2.1/servers/{sid}/action", json=body, headers=world.headers(p)).status_code
           for p in pm.PERSONAS}
    assert got == {"admin": 200, "member": 200, "reader": 403, "other": 404, "anon": 401}


# make_app's own routes, the same in every service (public health and metrics), not part of compute's API
FACTORY_ROUTES = {("GET", "/healthz"), ("GET", "/metrics")}
# rows where the declared rule looks at more than the caller's project, so the matrix differs for a reason
RULE_EXCEPTIONS = {
    **{key: "compute:keypairs checks the key pairs' user (each user has their own), not the project"
       for key in [("GET", "/v2.1/os-keypairs"), ("POST", "/v2.1/os-keypairs"),
                   ("GET", "/v2.1/os-keypairs/<name>"), ("DELETE", "/v2.1/os-keypairs/<name>")]},
    **{key: "the target is the project in the URL (the member's), not the caller's own"
       for key in [("GET", "/v2.1/os-quota-sets/<project_id>"), ("GET", "/v2.1/os-quota-sets/<project_id>/detail")]},
}


def test_every_served_route_is_declared(world):
    assert pm.undeclared(world.app) == (set(), set())


def test_every_metadata_route_is_declared_and_public(world):
    app = build_metadata_app(world.app.extensions["egret.settings"], world.app.extensions["egret.manager"])
    declared = routes.declared(app)
    assert pm.undeclared(app) == (set(), set())
    # guests have no token: the proxy's signed instance id is their credential, checked by every route's loader
    assert {r.rule for r in declared} == {routes.PUBLIC} and all(r.load is not None for r in declared)


def test_every_compute_rule_is_used_by_a_declared_route(world):
    assert pm.unused_rules(routes.declared(world.app), POLICIES) == set()


def test_matrix_agrees_with_the_declared_rules(world):
    problems = pm.agrees_with_rules(ROUTES, routes.declared(world.app), world.app.extensions["egret.policy"],
                                    RULE_EXCEPTIONS)
    assert problems == []

