"""The policy table against the running services: each service's matrix rows over real HTTP to one `egret up`."""
from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from appliance import config, policycli, routes
from appliance.manifest import load_manifest
from appliance.testing import policy_matrix as pm
from appliance.testing.cloud import IdentityCalls, RunningCloud
from appliance.testing.plugin import TokenMinter
from services.compute.policies import POLICIES as COMPUTE_POLICIES
from services.identity.policies import POLICIES as IDENTITY_POLICIES
from services.network.policies import POLICIES as NETWORK_POLICIES
from services.storage.policies import POLICIES as STORAGE_POLICIES
from services.storage.s3.credentials import Credential
from tests.unit.compute import test_compute_policy_matrix as compute
from tests.unit.identity import test_identity_policy_matrix as identity
from tests.unit.network import test_network_policy_matrix as network
from tests.unit.storage import test_storage_policy_matrix as storage

pytestmark = pytest.mark.e2e

M = pm.MEMBER_PROJECT
# the settings the matrices' worlds need: a physical network for the external one, a VNI and generous quotas per
# cell (every cell builds its own resources), servers that stop at once
SERVICE = {
    "network": {"physical_interface_mappings": {"public": "eth9"}, "vni_min": 100, "vni_max": 100000,
                "quotas": {k: 10000 for k in ("network", "subnet", "port", "router", "floatingip",
                                              "security_group", "security_group_rule")}},
    "compute": {"shutdown_timeout": 0},
}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    c = RunningCloud(tmp_path_factory.mktemp("policy-table") / "state",
                     services=["identity", "compute", "network", "storage"],
                     extra_env={"EGRET_FAKE_DRIVERS": "1", "EGRET_PASSWORD_HASH_LOG2N": "10",
                                "EGRET_SERVICE": json.dumps(SERVICE)})
    c.start(timeout=180)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def minter(cloud):
    """Persona tokens signed with the running cloud's own Fernet keys: every service validates them locally."""
    return TokenMinter(config.load(env=cloud.env))


@pytest.fixture(scope="module")
def tokens(minter):
    return pm.persona_tokens(minter)


def check(cells, what):
    """Every row is served (the admin meets no 'no such route' the table does not expect), every cell as the
    table says."""
    unserved = [f"{c.route.method} {c.route.rule}: {c.got} {c.detail}" for c in cells
                if c.persona == "admin" and c.got in (404, 405) and c.expected not in (404, 405)]
    assert not unserved, f"{what}: rows the running service does not serve:\n" + "\n".join(unserved)
    problems = pm.mismatches(cells)
    assert not problems, f"{what}:\n{problems}"


def wait_for(fetch, ready, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.05)


def test_late_bound_rows_call_a_world_subclass_override():
    """The matrices name makers as World.method: against a running service a World subclass overrides some."""
    class Base:
        def thing(self):
            return {"rid": "base"}

    class Running(Base):
        def thing(self):
            return {"rid": "running"}

    rows = pm.late_bound([pm.route("GET /x/<rid>", "200 200 200 404 401", Base.thing),
                          pm.route("GET /y/<rid>", "200 200 200 404 401", lambda w: {"rid": "lambda"}),
                          pm.route("GET /z", "200 200 200 200 401")])
    assert [r.make(Running()) if r.make else None for r in rows] == [{"rid": "running"}, {"rid": "lambda"}, None]


# -- the declared table: the apps `egret policy list` builds for this cloud's settings (fake drivers, a sandbox) ----
SERVICES = ("identity", "compute", "network", "storage")


@pytest.fixture(scope="module")
def apps(cloud, tmp_path_factory):
    """{api name: Flask app}, built from the manifest as `egret policy list` builds them for this cloud."""
    settings, sandbox = config.load(env=cloud.env), tmp_path_factory.mktemp("policy-sandbox")
    out = {}
    for unit in load_manifest().values():
        if unit.service in SERVICES:
            for app in policycli.build_apps(unit, policycli.sandbox_settings(settings, sandbox / unit.name)):
                out[app.name.removeprefix("egret.")] = (unit.service, app)
    return out


MATRICES = {"network": network.ROUTES, "compute": compute.ROUTES, "storage-image": storage.IMAGE_ROUTES,
            "storage-volume": storage.VOLUME_ROUTES, "storage-s3": storage.S3_ROUTES, "identity": identity.ROUTES}


@pytest.mark.parametrize("api", sorted(MATRICES))
def test_every_route_is_declared_and_in_the_matrix(apps, api):
    assert api in apps, f"no API named {api}: {sorted(apps)}"
    app = apps[api][1]
    assert pm.undeclared(app) == (set(), set()), f"{api}: served and declared differ"
    assert {row.key for row in MATRICES[api]} == pm.app_routes(app), f"{api}: the matrix and the served routes differ"


@pytest.mark.parametrize("service,policies", [("identity", IDENTITY_POLICIES), ("compute", COMPUTE_POLICIES),
                                              ("network", NETWORK_POLICIES), ("storage", STORAGE_POLICIES)])
def test_every_rule_is_checked_by_some_route(apps, service, policies):
    declared = [r for svc, app in apps.values() if svc == service for r in routes.declared(app)]
    assert pm.unused_rules(declared, policies) == set()


# -- network -------------------------------------------------------------------------------------------------------
def network_send(client, tokens):
    def send(persona, method, path, body):
        token = tokens[persona]
        resp = client.open(path, method=method, json=body, headers={"X-Auth-Token": token} if token else {})
        return resp.status_code, resp.get_data(as_text=True)
    return send


def test_a_wrong_row_is_caught_against_the_running_service(cloud, tokens):
    """The statuses are the running service's own: a row that says anyone may list networks without a token fails."""
    wrong = [pm.route("GET /v2.0/networks", "200 200 200 200 200")]
    cells = pm.run(wrong, None, network_send(pm.HttpClient(cloud.url("network")), tokens))
    assert pm.mismatches(cells).splitlines() == [
        "GET /v2.0/networks as anon: expected 200, got 401 (" + cells[-1].detail + ")"]


def test_network_matrix_against_the_running_service(cloud, tokens):
    world = network.World(pm.HttpClient(cloud.url("network")), tokens)
    check(pm.run(network.ROUTES + network.KNOBS, world, network_send(world.client, tokens)), "network")


# -- compute -------------------------------------------------------------------------------------------------------
def tiny_qcow2(path) -> bytes:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path.read_bytes()


class ComputeWorld(compute.World):
    """compute's World over the running services: the member's network from Neutron, a public image from Glance,
    volumes from Cinder, ports and hypervisors as the compute API lists them."""

    def __init__(self, cloud, tokens, disk: bytes):
        self.app, self.clients, self.tokens = None, None, tokens
        self.client = pm.HttpClient(cloud.url("compute"))
        self.net_client, self.image_client = pm.HttpClient(cloud.url("network")), pm.HttpClient(cloud.url("image"))
        self.volume_client = pm.HttpClient(cloud.url("volume"))
        self.seq = iter(range(1, 10 ** 6))
        net = self.api(self.net_client, "member", "POST", "/v2.0/networks", {"network": {"name": "private"}})
        self.net = net["network"]
        self.api(self.net_client, "member", "POST", "/v2.0/subnets", {"subnet": {
            "network_id": self.net["id"], "cidr": "10.200.0.0/16", "ip_version": 4}})
        image = self.api(self.image_client, "admin", "POST", "/v2/images", {
            "name": "tiny", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"})
        resp = self.image_client.open(f"/v2/images/{image['id']}/file", "PUT", data=disk, headers={
            "X-Auth-Token": tokens["admin"], "Content-Type": "application/octet-stream"})
        assert resp.status_code == 204, resp.get_data(as_text=True)
        self.image = image["id"]
        self.call("admin", "PUT", f"/v2.1/os-quota-sets/{M}", {"quota_set": {
            "instances": 1000, "cores": 1000, "ram": 10 ** 7, "server_groups": 1000}})
        self.api(self.volume_client, "admin", "PUT", f"/v3/{pm.ADMIN_PROJECT}/os-quota-sets/{M}", {
            "quota_set": {"volumes": 1000, "snapshots": 1000, "gigabytes": 10000}})

    def api(self, client, persona, method, path, body=None):
        """A call to the network, image or volume API (Cinder wants its microversion; the others ignore it)."""
        resp = client.open(path, method, json=body, headers={"X-Auth-Token": self.tokens[persona],
                                                             "OpenStack-API-Version": storage.CINDER})
        assert resp.status_code < 300, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json(silent=True)

    def server(self):
        ids = super().server()
        # the running service builds servers in the background: the rows act on a built one
        status = wait_for(lambda: self.call("member", "GET", f"/v2.1/servers/{ids['server_id']}")["server"][
            "status"], lambda s: s in ("ACTIVE", "ERROR"), "a server to build")
        assert status == "ACTIVE", ids
        return ids

    def server_with_port(self):
        ids = self.server()
        ports = self.call("member", "GET", f"/v2.1/servers/{ids['server_id']}/os-interface")["interfaceAttachments"]
        return {**ids, "port_id": ports[0]["port_id"] if ports else "no-port"}

    def volume(self):
        vid = self.api(self.volume_client, "member", "POST", f"/v3/{M}/volumes", {"volume": {
            "size": 1, "name": f"v{next(self.seq)}"}})["volume"]["id"]
        status = wait_for(lambda: self.api(self.volume_client, "member", "GET", f"/v3/{M}/volumes/{vid}")[
            "volume"]["status"], lambda s: s in ("available", "error"), "a volume")
        assert status == "available", vid
        return vid

    def hypervisor(self):
        return {"hid": self.call("admin", "GET", "/v2.1/os-hypervisors")["hypervisors"][0]["id"]}

    def service(self):
        return {"sid": self.call("admin", "GET", "/v2.1/os-services")["services"][0]["id"]}


def test_compute_matrix_against_the_running_service(cloud, tokens, tmp_path):
    world = ComputeWorld(cloud, tokens, tiny_qcow2(tmp_path / "tiny.qcow2"))
    check(pm.run(pm.late_bound(compute.ROUTES), world, compute.compute_send(world)), "compute")


# -- storage: Glance, Cinder, S3 -----------------------------------------------------------------------------------
class HttpS3:
    """storage's S3Signer over real HTTP: signs for the host the request really goes to."""

    def __init__(self, base_url):
        self.base_url, self.client = base_url, pm.HttpClient(base_url)

    def request(self, method, path, body=b"", headers=None, cred=None, query="", sign=True):
        url = self.base_url + path + (("?" + query) if query else "")
        req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        if sign:
            S3SigV4Auth(Credentials(cred.access, cred.secret), "s3", "us-east-1").add_auth(req)
        return pm.HttpResponse(requests.request(method, url, data=body, headers=dict(req.headers.items()),
                                                timeout=60))


class StorageWorld(storage.World):
    """storage's World over the running Glance, Cinder and S3; S3 keys are real EC2 credentials from identity."""

    def __init__(self, cloud, tokens, keys):
        self.apps, self.tokens, self.keys = None, tokens, keys
        self.image_client, self.volume_client = pm.HttpClient(cloud.url("image")), pm.HttpClient(cloud.url("volume"))
        self.s3 = HttpS3(cloud.url("s3"))
        self.seq = iter(range(1, 10 ** 6))
        self.call(self.volume_client, "PUT", f"/v3/{pm.ADMIN_PROJECT}/os-quota-sets/{M}", "admin", json={
            "quota_set": {"volumes": 1000, "snapshots": 1000, "gigabytes": 10000}},
            headers={"OpenStack-API-Version": storage.CINDER})

    def volume(self):
        ids = super().volume()
        # Cinder creates in the background: the rows act on an available volume
        status = wait_for(lambda: self.cinder("GET", f"/v3/{storage.OWN}/volumes/{ids['volume_id']}")["volume"][
            "status"], lambda s: s in ("available", "error"), "a volume")
        assert status == "available", ids
        return ids

    def snapshot(self):
        ids = super().snapshot()
        # snapshots too: a delete of one still creating is refused (400), as Cinder refuses it
        status = wait_for(lambda: self.cinder("GET", f"/v3/{storage.OWN}/snapshots/{ids['snapshot_id']}")[
            "snapshot"]["status"], lambda s: s in ("available", "error"), "a snapshot")
        assert status == "available", ids
        return ids

    def bucket(self, key=None):
        name = f"b{next(self.seq)}-{time.monotonic_ns() % 10 ** 8}"
        assert self.s3.request("PUT", f"/{name}", cred=self.keys["member"]).status_code == 200
        if key:
            assert self.s3.request("PUT", f"/{name}/{key}", body=b"data", cred=self.keys["member"]).status_code == 200
        return {"bucket": name, "key": key or "k"}


def ec2_keys(cloud) -> dict[str, Credential]:
    """The S3 personas as real users: a member and a reader of one project, a member of another, the admin."""
    env = ApiEnv(cloud)
    own, other = env.project("s3-own"), env.project("s3-other")
    admin = env.ok("GET", "/v3/users?name=admin")["users"][0]["id"]
    admin_project = env.ok("GET", "/v3/projects?name=admin")["projects"][0]["id"]
    users = {"admin": (admin, admin_project), "member": (env.user("s3-member", project_id=own), own),
             "reader": (env.user("s3-reader", project_id=own, role="reader"), own),
             "other": (env.user("s3-other", project_id=other), other)}
    keys = {}
    for persona, (uid, project) in users.items():
        cred = env.ok("POST", f"/v3/users/{uid}/credentials/OS-EC2", json={"tenant_id": project})["credential"]
        keys[persona] = Credential(cred["access"], cred["secret"], project, uid)
    return keys


@pytest.fixture(scope="module")
def storage_world(cloud, tokens):
    return StorageWorld(cloud, tokens, ec2_keys(cloud))


def test_image_matrix_against_the_running_service(storage_world):
    knobs = [k for k in storage.KNOBS if k.rule.startswith("/v2/")]
    rows = pm.late_bound(storage.IMAGE_ROUTES + knobs)
    check(pm.run(rows, storage_world, storage._send_image(storage_world)), "image")


def test_volume_matrix_against_the_running_service(storage_world):
    knobs = [k for k in storage.KNOBS if k.rule.startswith("/v3/")]
    rows = pm.late_bound(storage.VOLUME_ROUTES + knobs)
    check(pm.run(rows, storage_world, storage._send_volume(storage_world)), "volume")


def test_s3_matrix_against_the_running_service(storage_world):
    world = storage_world
    check(pm.run(pm.late_bound(storage.S3_ROUTES), world, storage._send_s3(world, world.keys)), "s3")


# -- identity (last: its final row changes a user's password, which revokes that user's tokens) ----------------------
class ApiEnv(IdentityCalls):
    """identity's unit-test Env (req, and IdentityCalls' ok, project, user, role_id) over the running identity, as
    its admin."""

    def __init__(self, cloud):
        self.client = pm.HttpClient(cloud.url("identity"))
        self.admin = cloud.admin_token()

    def req(self, method, path, token=None, json=None, data=None, headers=None):
        hdrs = {**(headers or {}), **({"X-Auth-Token": token} if token else {})}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        return self.client.open(path, method, json=json, data=data, headers=hdrs)


def test_identity_matrix_against_the_running_service(cloud, minter):
    world = identity.World(ApiEnv(cloud), minter)
    check(pm.run(identity.subject_rows(identity.ROUTES), world, identity.identity_send(world)), "identity")
