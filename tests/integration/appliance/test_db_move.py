"""A box with data in every service moves from SQLite to a real PostgreSQL with `egret db move`, and every service
reopened on PostgreSQL still has it, still honours the tokens it issued, and takes new rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import urlparse

import psycopg2
import pytest

from appliance import cli, config, dbmove, jointoken, pgserver, pki
from appliance.testing.plugin import make_settings
from appliance.testing.postgres import admin_sql
from tests.unit.storage.storage_testlib import ALICE, FakeCredentials, S3Signer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ADMIN_PASSWORD = "Move-Admin-Pass-1"
USER_PASSWORD = "Move-User-Pass-1"
SERVICES = ("identity", "compute", "network", "storage", "cluster", "federation")


class Box:
    """Every service of one box, in-process over its state dir: identity, compute (fake driver), network (fake
    driver), storage (fake volume driver, file stores), the cluster's membership and a federation hub."""

    def __init__(self, settings, compute_driver=None, compute_clients=None, network_driver=None, volume_driver=None):
        from services import federation, identity, network, storage
        from services.compute import build_api
        from services.compute import models as compute_models
        from services.compute.drivers.fake import FakeDriver as ComputeFake
        from services.compute.fakes import fake_clients
        from services.network.drivers.fake import FakeDriver as NetworkFake
        from services.storage.drivers.fake import FakeDriver as VolumeFake
        from appliance.db import open_service_database
        self.settings = settings
        self.identity = identity.create_app(settings).test_client()
        self.compute_driver = compute_driver or ComputeFake(prefix="egmove-")
        self.compute_clients = compute_clients or fake_clients()
        open_service_database(settings, "compute", compute_models.database)
        self.compute = build_api(settings, self.compute_driver, self.compute_clients, synchronous=True).test_client()
        self.network_driver = network_driver or NetworkFake(settings, prefix="egm")
        self.network = network.create_app(settings, driver=self.network_driver).test_client()
        self.volume_driver = volume_driver or VolumeFake()
        apps = storage.create_apps(settings, driver=self.volume_driver, credentials=FakeCredentials(ALICE))
        self.storage = apps["image"].extensions["egret.manager"]
        self.image, self.volume, self.s3 = (apps[k].test_client() for k in ("image", "volume", "s3"))
        self.federation = federation.create_app(settings)
        self._open_cluster()

    def _open_cluster(self):
        from appliance.cluster import models, service
        from appliance.db import open_service_database
        open_service_database(self.settings, "cluster", models.database, package=service.PACKAGE)

    def close(self):
        from appliance.cluster import models as cluster_models
        from services.compute import models as compute_models
        from services.federation import models as federation_models
        from services.identity import models as identity_models
        from services.network import models as network_models
        from services.storage import models as storage_models
        for models in (identity_models, compute_models, network_models, storage_models, cluster_models,
                       federation_models):
            if not models.database.is_closed():
                models.database.close()

    # --- calls ---------------------------------------------------------------------------------------------
    @staticmethod
    def call(client, method, path, token, body=None, status=None, headers=None):
        resp = client.open(path, method=method, json=body, headers={"X-Auth-Token": token, **(headers or {})})
        expected = status or {"POST": (200, 201, 202), "PUT": (200, 201, 204), "DELETE": (202, 204)}.get(
            method, (200,))
        assert resp.status_code in ((expected,) if isinstance(expected, int) else expected), \
            (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json(silent=True)

    def password_token(self, user, password, project):
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        resp = self.identity.post("/v3/auth/tokens?nocatalog", json=body)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.headers["X-Subject-Token"]


def fill(box: Box, tmp_path, site: bool = True) -> dict:
    """Real data in every service, made through its own API (or manager, where the API needs a remote peer);
    `site`: the box also founds site "lab" and admits a node (the move must carry the cluster's rows too)."""
    from appliance.cluster import membership
    from services.identity import bootstrap
    admin = box.password_token("admin", ADMIN_PASSWORD, "admin")
    idn, c = box.identity, box.call
    project = c(idn, "POST", "/v3/projects", admin, {"project": {"name": "demo", "domain_id": "default"}})["project"]
    user = c(idn, "POST", "/v3/users", admin, {"user": {"name": "alice", "password": USER_PASSWORD,
                                                       "domain_id": "default"}})["user"]
    member = c(idn, "GET", "/v3/roles?name=member", admin)["roles"][0]["id"]
    c(idn, "PUT", f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member}", admin)
    alice = box.password_token("alice", USER_PASSWORD, "demo")
    appcred = c(idn, "POST", f"/v3/users/{user['id']}/application_credentials", alice,
                {"application_credential": {"name": "ci", "roles": [{"name": "member"}]}})["application_credential"]
    assert bootstrap.is_bootstrapped(box.settings)

    # compute: its network/image/volume peers are the fakes that pass the same contract as the real clients
    fakes = box.compute_clients
    for token, pid, roles in ((alice, project["id"], ["member", "reader"]), (admin, None, ["admin", "member"])):
        fakes["network"].auth.register(token, pid or "admin", roles)
    net = fakes["network"].add_network("private", project["id"])
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    image = fakes["image"].add_image(path=str(disk), name="tiny")
    comp = box.compute
    mv = {"OpenStack-API-Version": "compute 2.79"}
    c(comp, "POST", "/v2.1/flavors", admin, {"flavor": {"name": "m.move", "ram": 256, "vcpus": 1, "disk": 1,
                                                         "id": "move-1"}}, headers=mv)
    c(comp, "POST", "/v2.1/flavors/move-1/os-extra_specs", admin, {"extra_specs": {"hw:cpu_policy": "shared"}},
      headers=mv)
    c(comp, "POST", "/v2.1/os-keypairs", alice, {"keypair": {"name": "k1"}}, headers=mv)
    server = c(comp, "POST", "/v2.1/servers", alice, {"server": {
        "name": "vm1", "imageRef": image["id"], "flavorRef": "move-1", "key_name": "k1",
        "networks": [{"uuid": net["id"]}], "metadata": {"role": "db"}}}, headers=mv)["server"]

    # network: a tenant network with a subnet, a port, a router on it, a security group with a rule
    nw = box.network
    n = c(nw, "POST", "/v2.0/networks", alice, {"network": {"name": "net1"}})["network"]
    s = c(nw, "POST", "/v2.0/subnets", alice, {"subnet": {"network_id": n["id"], "cidr": "10.9.0.0/24",
                                                         "ip_version": 4, "name": "sub1"}})["subnet"]
    c(nw, "POST", "/v2.0/ports", alice, {"port": {"network_id": n["id"], "name": "p1"}})
    r = c(nw, "POST", "/v2.0/routers", alice, {"router": {"name": "r1"}})["router"]
    c(nw, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", alice, {"subnet_id": s["id"]})
    sg = c(nw, "POST", "/v2.0/security-groups", alice, {"security_group": {"name": "web"}})["security_group"]
    c(nw, "POST", "/v2.0/security-group-rules", alice, {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 80,
        "port_range_max": 80, "ethertype": "IPv4"}})

    # storage: a volume and its snapshot, an uploaded image, a bucket with an object
    vol_base = f"/v3/{project['id']}"
    vol = c(box.volume, "POST", f"{vol_base}/volumes", alice, {"volume": {"size": 1, "name": "data"}})["volume"]
    c(box.volume, "POST", f"{vol_base}/snapshots", alice, {"snapshot": {"volume_id": vol["id"], "name": "snap"}})
    img = c(box.image, "POST", "/v2/images", alice, {"name": "blob", "disk_format": "raw",
                                                      "container_format": "bare"})
    up = box.image.put(f"/v2/images/{img['id']}/file", data=b"\0" * 4096,
                       headers={"X-Auth-Token": alice, "Content-Type": "application/octet-stream"})
    assert up.status_code == 204, up.get_data(as_text=True)
    signer = S3Signer(box.s3)
    assert signer.request("PUT", "/moved-bucket").status_code == 200
    assert signer.request("PUT", "/moved-bucket/hello.txt", body=b"still here").status_code == 200

    # cluster: the box founds site "lab", issues a join token, admits a second node
    if site:
        membership.found(box.settings, "lab")
        token = membership.issue_token(box.settings)
        _, csr = pki.new_key_and_csr("node-b")
        membership.redeem(box.settings, jointoken.parse("join", token["token"])["secret"], "node-b",
                          "127.0.0.2:8120", csr)

    # federation: an enrolment token and one enrolled site
    hub = box.federation.extensions["egret.manager"]
    enrol = hub.issue_token(created_by="test")
    _, site_csr = pki.new_key_and_csr("site-x")
    hub.enrol(jointoken.parse("enrol", enrol["token"])["secret"], "edge-x", site_csr, {"release": "1"})
    return {"admin": admin, "alice": alice, "project": project, "user": user, "appcred": appcred,
            "server": server, "volume": vol, "image": img, "network": n}


def listings(box: Box, ids: dict) -> dict:
    """What the APIs say, in every service: compared whole before and after the move."""
    from appliance.cluster import membership
    admin, alice, c = ids["admin"], ids["alice"], box.call
    mv = {"OpenStack-API-Version": "compute 2.79"}
    out = {
        "projects": c(box.identity, "GET", "/v3/projects", admin),
        "users": c(box.identity, "GET", "/v3/users", admin),
        "assignments": c(box.identity, "GET", "/v3/role_assignments", admin),
        "appcreds": c(box.identity, "GET", f"/v3/users/{ids['user']['id']}/application_credentials", alice),
        "catalog": c(box.identity, "GET", "/v3/endpoints", admin),
        "flavors": c(box.compute, "GET", "/v2.1/flavors/detail", admin, headers=mv),
        "extra_specs": c(box.compute, "GET", "/v2.1/flavors/move-1/os-extra_specs", admin, headers=mv),
        "keypairs": c(box.compute, "GET", "/v2.1/os-keypairs", alice, headers=mv),
        "servers": c(box.compute, "GET", "/v2.1/servers/detail", alice, headers=mv),
    }
    for kind in ("networks", "subnets", "ports", "routers", "security-groups", "security-group-rules"):
        out[kind] = c(box.network, "GET", f"/v2.0/{kind}", alice)
    base = f"/v3/{ids['project']['id']}"
    out["volumes"] = c(box.volume, "GET", f"{base}/volumes/detail", alice)
    out["snapshots"] = c(box.volume, "GET", f"{base}/snapshots/detail", alice)
    out["images"] = c(box.image, "GET", "/v2/images", alice)
    signer = S3Signer(box.s3)
    out["buckets"] = signer.request("GET", "/").get_data(as_text=True)
    out["objects"] = signer.request("GET", "/moved-bucket").get_data(as_text=True)
    out["object"] = signer.request("GET", "/moved-bucket/hello.txt").get_data(as_text=True)
    out["members"] = sorted((m["name"], m["address"]) for m in membership.members(box.settings))
    hub = box.federation.extensions["egret.manager"]
    out["sites"] = [hub.render(s) for s in hub.list()]
    return {name: unordered(value) for name, value in out.items()}


def unordered(listing):
    """A listing with its collection in a fixed order: the APIs do not promise one (rows created in the same
    second come back in whatever order the engine picks)."""
    if isinstance(listing, dict) and len(listing) == 1:
        (key, value), = listing.items()
        if isinstance(value, list):
            return {key: sorted(value, key=lambda item: json.dumps(item, sort_keys=True))}
    return listing


@pytest.fixture
def target(postgres_url):
    """A {service} URL on the test server; its databases are dropped afterwards."""
    prefix = f"mv{uuid.uuid4().hex[:8]}"
    yield postgres_url.rsplit("/", 1)[0] + f"/{prefix}_{{service}}"
    for service in SERVICES:
        admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {prefix}_{service} WITH (FORCE)")


def box_overrides(tmp_path) -> dict:
    return dict(fake_drivers=True, service={
        "compute": {"instances_dir": str(tmp_path / "instances"), "shutdown_timeout": 0, "background": False},
        "network": {"physical_interface_mappings": {"public": "eth9"}, "vni_min": 100, "vni_max": 110},
        "storage": {"synchronous": True}},
        enabled_services=["identity", "compute", "network", "storage", "cluster", "federation"])


def test_a_box_moves_to_postgresql_with_nothing_lost(tmp_path, target, monkeypatch, capsys):
    from services.identity import bootstrap
    state = tmp_path / "state"
    overrides = box_overrides(tmp_path)
    settings = make_settings(state, **overrides)
    bootstrap.bootstrap(settings, ADMIN_PASSWORD)
    box = Box(settings)
    ids = fill(box, tmp_path)
    before = listings(box, ids)
    box.close()

    # the operator's command: egret db move --to ... (the password never printed)
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(settings.config_dir))
    password = psycopg2.extensions.parse_dsn(target.replace("{service}", "x"))["password"]
    assert cli.main(["--state-dir", str(state), "db", "move", "--to", target]) == 0
    out = capsys.readouterr()
    assert password not in out.out + out.err
    for service in SERVICES:
        assert f"{service}: " in out.out and f"{service}.db.moved" not in out.out
        assert (state / f"{service}.db.moved").exists() and not (state / f"{service}.db").exists()
    assert "rows in" in out.out and "Moved 6 services" in out.out

    # the services' next start reads the settings file the move wrote: every database is PostgreSQL now
    moved = make_settings(state, **overrides)
    assert moved.database_for("compute") == target.replace("{service}", "compute")
    after_box = Box(moved, box.compute_driver, box.compute_clients, box.network_driver, box.volume_driver)
    try:
        assert listings(after_box, ids) == before
        # a token issued before the move still validates (its keys are files, its user is a row that moved)
        check = after_box.identity.get("/v3/auth/tokens", headers={"X-Auth-Token": ids["admin"],
                                                                    "X-Subject-Token": ids["alice"]})
        assert check.status_code == 200 and check.get_json()["token"]["user"]["name"] == "alice"
        # the application credential's secret hash moved too
        body = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
            "id": ids["appcred"]["id"], "secret": ids["appcred"]["secret"]}}}}
        assert after_box.identity.post("/v3/auth/tokens", json=body).status_code == 201
        # new rows everywhere
        c, admin, alice = after_box.call, ids["admin"], ids["alice"]
        c(after_box.identity, "POST", "/v3/projects", admin, {"project": {"name": "after", "domain_id": "default"}})
        c(after_box.compute, "POST", "/v2.1/os-keypairs", alice, {"keypair": {"name": "k2"}},
          headers={"OpenStack-API-Version": "compute 2.79"})
        c(after_box.network, "POST", "/v2.0/networks", alice, {"network": {"name": "net2"}})
        c(after_box.volume, "POST", f"/v3/{ids['project']['id']}/volumes", alice, {"volume": {"size": 1}})
        with psycopg2.connect(target.replace("{service}", "identity")) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM project WHERE name = 'after'")
            assert cur.fetchone() == (1,)
    finally:
        after_box.close()

    # a fresh `egret` process reads the settings file too: identity is bootstrapped, every schema is current
    env = {k: v for k, v in os.environ.items() if not k.startswith("EGRET_")}
    env.update(EGRET_CONFIG_DIR=str(settings.config_dir), EGRET_STATE_DIR=str(state))
    for args, expect in ((["bootstrap", "--check"], ""), (["migrate"], "compute: up to date")):
        proc = subprocess.run([sys.executable, "-m", "appliance.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0 and expect in proc.stdout, (args, proc.stdout, proc.stderr)
        assert "cluster: up to date" in proc.stdout or args[0] == "bootstrap"
    assert not list(state.glob("*.db"))  # nothing fell back to a new SQLite file

    # a second run: the box is on PostgreSQL now, and the target holds this box's rows
    assert cli.main(["--state-dir", str(state), "db", "move", "--to", target, "--json"]) == 1
    refused = capsys.readouterr()
    assert "already uses" in json.loads(refused.out)["error"] and password not in refused.out + refused.err
    again = dbmove.Plan("compute", "services.compute.migrations", state / "compute.db.moved",
                        target.replace("{service}", "compute"))
    with pytest.raises(dbmove.MoveError, match="already holds"):
        dbmove.move_service(again)
    assert config.load(env={"EGRET_CONFIG_DIR": str(settings.config_dir)}, state_dir=state).database_url == target


def test_founding_a_site_moves_the_box_to_postgresql(tmp_path, postgres_url, monkeypatch):
    """`egret cluster found` on a box with data in every service: the local PostgreSQL server gets Egret's role
    and every service's rows, the settings point there, and the site then takes its first member."""
    from appliance.cluster import founding, holdings, membership
    from services.identity import bootstrap
    state = tmp_path / "state"
    overrides = box_overrides(tmp_path)
    settings = make_settings(state, **overrides)
    bootstrap.bootstrap(settings, ADMIN_PASSWORD)
    box = Box(settings)
    ids = fill(box, tmp_path, site=False)
    before = listings(box, ids)
    box.close()
    # what a join would lose, counted from the real schemas (this box could not join a site as it is)
    held = holdings.count(settings)
    assert held == {"server": 1, "volume": 1, "volume snapshot": 1, "image": 1, "bucket": 1, "network": 1}, held

    # the session server stands in for Debian's: its superuser over psql, as `--local` reaches it; a role and
    # database names of this test's own (the session's role must keep its password)
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.delenv("EGRET_DATABASE_URL", raising=False)
    psql = pgserver.Psql("127.0.0.1", urlparse(postgres_url).port, "postgres")
    tag = uuid.uuid4().hex[:8]
    role, prefix = f"egfound{tag}", f"fd{tag}"
    try:
        # a service still holding its database: the founding is refused before anything is made anywhere
        holder = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); time.sleep(60)",
                                   str(state / "network.db")])
        try:
            deadline = time.time() + 10
            while not dbmove.open_by_others(state / "network.db") and time.time() < deadline:
                time.sleep(0.05)
            with pytest.raises(dbmove.MoveError, match="stop the services first .*nothing was changed"):
                founding.found_site(settings, "lab", psql=psql, role=role, prefix=prefix)
        finally:
            holder.kill()
            holder.wait()
        assert membership.site(settings) is None and (state / "network.db").exists()
        assert psql.run(f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == "0"

        out = founding.found_site(settings, "lab", psql=psql, role=role, prefix=prefix)
        assert out["database"]["engine"] == "postgresql" and out["site"]["site"] == "lab"
        assert {m["service"] for m in out["move"]["services"]} == set(SERVICES)
        assert membership.site(settings)["database"]["engine"] == "postgresql"
        assert not list(state.glob("*.db")) and (state / "compute.db.moved").exists()

        # the services' next start reads the settings the founding wrote: every listing is what it was
        moved = make_settings(state, **overrides)
        assert moved.database_for("compute").startswith(f"postgresql://{role}:")
        assert moved.database_for("compute").endswith(f"/{prefix}_compute")
        after = Box(moved, box.compute_driver, box.compute_clients, box.network_driver, box.volume_driver)
        try:
            assert listings(after, ids) == before
            check = after.identity.get("/v3/auth/tokens", headers={"X-Auth-Token": ids["admin"],
                                                                   "X-Subject-Token": ids["alice"]})
            assert check.status_code == 200
            assert holdings.count(moved) == held  # counted on PostgreSQL too
            # the shared database is there: the site takes its first member, whose row lands in PostgreSQL
            token = membership.issue_token(moved)
            _, csr = pki.new_key_and_csr("node-b")
            membership.redeem(moved, jointoken.parse("join", token["token"])["secret"], "node-b",
                              "127.0.0.2:8120", csr)
            assert membership.shared_database_problem(moved, membership.site(moved)) is None
            with psycopg2.connect(moved.database_for("cluster")) as conn, conn.cursor() as cur:
                cur.execute("SELECT name FROM node")
                assert {r[0] for r in cur.fetchall()} == {"node-b", membership.node_name(moved)}
            conn.close()
        finally:
            after.close()
    finally:
        for service in SERVICES:
            admin_sql(postgres_url, f"DROP DATABASE IF EXISTS {prefix}_{service} WITH (FORCE)")
        admin_sql(postgres_url, f'DROP ROLE IF EXISTS "{role}"')
