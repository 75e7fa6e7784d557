"""Joins stay safe: version skew refused and named, a site on SQLite takes no member, a box whose own cloud holds
resources is refused (or drops them with --force), and an admission is undone when the box cannot finish."""
from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from appliance import cli, db, errors, jointoken, pki
from appliance.cluster import founding, holdings, membership, models, siteclouds, versions
from appliance.cluster.join import JoinError, join
from appliance.cluster.service import create_app
from appliance.testing.plugin import make_settings


@pytest.fixture
def founder(settings):
    app = create_app(settings, background=False)
    membership.found(settings, "lyon")
    with app.app_context():
        yield settings, app


def _secret(settings, ttl=600):
    return jointoken.parse("join", membership.issue_token(settings, ttl)["token"])["secret"]


def _csr(name="n1"):
    return pki.new_key_and_csr(name)[1]


def test_release_series():
    assert versions.series("0.8.2") == "0.8" and versions.series(None) == "unknown"
    assert not versions.skew("0.8.0", "0.8.5") and versions.skew("0.8.0", "0.7.9") and versions.skew("0.8.0", None)


def test_a_join_from_another_series_is_refused_and_keeps_the_token(founder, monkeypatch):
    settings, app = founder
    monkeypatch.setattr(versions, "current", lambda: "0.8.1")
    secret = _secret(settings)
    with pytest.raises(errors.Conflict, match=r"founder runs 0\.8, this box 0\.7 .*update it first") as refused:
        membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr(), version="0.7.3")
    assert refused.value.status == 409
    with pytest.raises(errors.Conflict, match="this box unknown"):  # an older box that does not say
        membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr(), version=None)
    assert not models.Node.select().where(models.Node.name == "n1").exists()
    # over HTTP: 409 in the API's own format; the token is still good for the updated box
    r = app.test_client().post("/v1/cluster/join", json={"secret": secret, "name": "n1", "address": "10.0.0.5:8120",
                                                         "csr": _csr(), "version": "0.7.3"})
    assert r.status_code == 409 and "update it first" in r.get_json()["error"]["message"]
    out = membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr(), version="0.8.0")
    assert out["version"] == "0.8.1"


def test_members_carry_their_release_and_skew_is_named(founder, monkeypatch, capsys):
    settings, _ = founder
    membership.redeem(settings, _secret(settings), "n1", "10.0.0.5:8120", _csr())
    membership.heartbeat(settings, "n1", None, {}, version="0.0.9")  # n1 was downgraded since
    rows = {m["name"]: m for m in membership.members(settings)}
    assert rows["n1"]["version"] == "0.0.9" and rows["n1"]["version_skew"]
    assert rows[membership.node_name(settings)]["version"] == versions.current()
    assert not rows[membership.node_name(settings)]["version_skew"]
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(settings.config_dir))
    assert cli.main(["--state-dir", str(settings.state_dir), "cluster", "members"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "version skew (0.0.9)" in lines["n1"] and "skew" not in lines[membership.node_name(settings)]


def test_abort_undoes_an_unconfirmed_admission_only(founder):
    settings, app = founder
    client = app.test_client()
    secret = _secret(settings)
    membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr())
    # only the holder of the token, for the node that token admitted
    assert client.post("/v1/cluster/join/abort", json={"secret": "x" * 32, "name": "n1"}).status_code == 401
    assert client.post("/v1/cluster/join/abort", json={"secret": secret, "name": "n2"}).status_code == 401
    r = client.post("/v1/cluster/join/abort", json={"secret": secret, "name": "n1"})
    assert r.status_code == 204, r.get_data(as_text=True)
    assert not models.Node.select().where(models.Node.name == "n1").exists()
    row = models.JoinToken.get()
    assert row.used_at is None and row.used_by is None
    # the same token admits the node again; once it has sent a heartbeat the join cannot be undone that way
    membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr())
    membership.heartbeat(settings, "n1", None, {})
    r = client.post("/v1/cluster/join/abort", json={"secret": secret, "name": "n1"})
    assert r.status_code == 409 and "active member" in r.get_json()["error"]["message"]
    assert models.Node.select().where(models.Node.name == "n1").exists()


def test_a_site_kept_on_sqlite_says_why_and_refuses_members(settings, monkeypatch, capsys):
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.delenv("EGRET_DATABASE_URL", raising=False)
    nowhere = str(settings.state_dir / "no-socket")
    code = cli.main(["--state-dir", str(settings.state_dir), "cluster", "found", "lyon", "--pg-host", nowhere,
                     "--pg-port", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "founded site 'lyon'" in out, out
    assert "keeps its control plane in SQLite (no PostgreSQL server on this box" in out and "not usable" in out
    info = membership.site(settings)
    assert info["database"]["engine"] == "sqlite" and "not usable" in info["database"]["reason"]
    assert cli.main(["--state-dir", str(settings.state_dir), "cluster", "show"]) == 0
    assert "keeps its control plane in SQLite" in json.loads(capsys.readouterr().out)["database_note"]
    # founding again under the same name is a no-op; nothing was written for PostgreSQL
    assert founding.found_site(settings, "lyon")["site"] == info
    assert not (settings.config_dir / "50-database.toml").exists()
    app = create_app(settings, background=False)
    with app.app_context():
        secret = _secret(settings)
        r = app.test_client().post("/v1/cluster/join", json={
            "secret": secret, "name": "n1", "address": "10.0.0.5:8120", "csr": _csr(), "version": versions.current()})
        assert r.status_code == 409
        assert "a second node needs the shared database" in r.get_json()["error"]["message"]
        assert models.JoinToken.get().used_at is None and models.Node.select().count() == 1
    # moved by hand since (`egret db move --local`): the site takes members and says where its state is
    settings.config_dir.mkdir(parents=True, exist_ok=True)
    (settings.config_dir / "50-database.toml").write_text('database_url = "postgresql://e:p@127.0.0.1/e_{service}"\n')
    assert cli.main(["--state-dir", str(settings.state_dir), "cluster", "show"]) == 0
    assert "keeps its state in PostgreSQL" in json.loads(capsys.readouterr().out)["database_note"]


def _cloud_db(path, instances=0, volumes=0, images=0, deleted_instances=0):
    """The columns the count reads, as the services' migrations make them."""
    conn = sqlite3.connect(path)
    conn.executescript('CREATE TABLE IF NOT EXISTS instance (id TEXT, deleted INTEGER NOT NULL, '
                       "domain_name TEXT NOT NULL DEFAULT '', image_ref TEXT NOT NULL DEFAULT '');"
                       'CREATE TABLE IF NOT EXISTS volume (id TEXT, status TEXT NOT NULL);'
                       'CREATE TABLE IF NOT EXISTS image (id TEXT, status TEXT NOT NULL);')
    conn.executemany("INSERT INTO instance (id, deleted) VALUES (?, ?)", [(f"i{i}", 0) for i in range(instances)]
                     + [(f"d{i}", 1) for i in range(deleted_instances)])
    conn.executemany("INSERT INTO volume VALUES (?, 'available')", [(f"v{i}",) for i in range(volumes)])
    conn.executemany("INSERT INTO image VALUES (?, 'active')", [(f"g{i}",) for i in range(images)])
    conn.commit()
    conn.close()


def test_a_box_holding_resources_is_refused_before_the_token_is_used(tmp_path):
    box = make_settings(tmp_path / "box", fake_drivers=True)
    box.state_dir.mkdir(parents=True, exist_ok=True)
    _cloud_db(box.state_dir / "compute.db", instances=2, deleted_instances=3)
    _cloud_db(box.state_dir / "storage.db", volumes=1, images=3)
    assert holdings.count(box) == {"server": 2, "volume": 1, "image": 3}
    token = jointoken.make_token("join", ca_fingerprint="sha256:" + "0" * 64, expires_at=9e9,
                                 addresses=["127.0.0.1:1"], secret="s" * 32)
    with pytest.raises(JoinError, match=r"holds 2 servers, 1 volume, 3 images; they would be lost .*--force"):
        join(box, token, name="b1", address="127.0.0.1:2")
    # --force goes on to the site (here: nobody answers), and a join that fails drops nothing
    with pytest.raises(JoinError, match="No address in the token answered"):
        join(box, token, name="b1", address="127.0.0.1:2", force=True)
    assert (box.state_dir / "compute.db").exists() and not membership.site_file(box).exists()
    # a process holding a database: --force says to stop the services first, before reaching anyone
    path = str(box.state_dir / "storage.db")
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); time.sleep(30)", path])
    try:
        deadline = time.time() + 10
        while path not in _fds(proc.pid) and time.time() < deadline:
            time.sleep(0.05)
        with pytest.raises(JoinError, match="stop the services first"):
            join(box, token, name="b1", address="127.0.0.1:2", force=True)
    finally:
        proc.kill()
        proc.wait()
    gone = holdings.drop(box)
    assert str(box.state_dir / "compute.db") in gone["dropped"] and holdings.count(box) == {}
    assert "compute: 5 server row(s), no guest or instance files left to purge" in gone["purged"]


def _through(app, monkeypatch):
    """The box's HTTPS calls to the founder go to its app instead (the real TLS path: test_join_real.py)."""
    client = app.test_client()

    def request(method, url, *, ca_pem, body=None, cert=None, timeout=15.0):
        resp = client.open("/" + url.split("/", 3)[3], method=method, json=body)
        if resp.status_code >= 400:
            message = resp.get_json()["error"]["message"]
            raise pki.PeerError(f"{url} refused: {message} (HTTP {resp.status_code})", status=resp.status_code)
        return resp.get_json(silent=True) or {}
    monkeypatch.setattr(pki, "request", request)


def test_a_forced_join_purges_the_old_cloud_first_and_a_failed_purge_undoes_the_join(founder, tmp_path,
                                                                                    monkeypatch, capsys):
    settings, app = founder
    _through(app, monkeypatch)
    box = make_settings(tmp_path / "box", fake_drivers=True)
    box.state_dir.mkdir(parents=True, exist_ok=True)
    _cloud_db(box.state_dir / "compute.db", instances=2)
    guest_files = box.state_dir / "instances" / "i0"
    guest_files.mkdir(parents=True)
    (guest_files / "disk").write_bytes(b"qcow2")
    token = membership.issue_token(settings, 600)["token"]

    # a purge command that fails (here: a service without one): the join is undone on both sides, nothing dropped
    monkeypatch.setattr(holdings, "PURGES", ("nosuch", "compute"))
    with pytest.raises(JoinError, match=r"--force could not stop this box's own cloud \(`egret nosuch purge` failed: "
                                        r".*\); its 2 servers were not dropped, and the founder undid the admission"):
        join(box, token, name="b1", address="127.0.0.1:2", force=True)
    assert (box.state_dir / "compute.db").exists() and holdings.count(box) == {"server": 2} and guest_files.exists()
    assert not membership.site_file(box).exists() and not (membership.state_dir(box) / "member").exists()
    assert not models.Node.select().where(models.Node.name == "b1").exists()
    assert models.JoinToken.get().used_at is None

    # the same token then joins (`egret join --force`): the guests' files go first (the fake driver runs no
    # domain), then the databases
    monkeypatch.undo()
    _through(app, monkeypatch)
    monkeypatch.setenv("EGRET_CONFIG_DIR", str(box.config_dir))
    monkeypatch.setenv("EGRET_FAKE_DRIVERS", "1")
    assert cli.main(["--state-dir", str(box.state_dir), "join", token, "--name", "b1", "--address", "127.0.0.1:2",
                     "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "--force: compute: deleted the instance files of server i0" in out
    assert "--force: network: no network database, nothing to purge" in out
    assert f"dropped this box's own {box.state_dir / 'compute.db'} (--force)" in out and not guest_files.exists()
    assert holdings.count(box) == {} and membership.site(box)["role"] == "member"


def _fds(pid):
    try:
        return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return set()


def test_migration_0002_adds_the_release_columns_to_an_older_database(tmp_path):
    database = db.open_database(f"sqlite:///{tmp_path / 'cluster.db'}")
    # the node table as release 0001 made it before nodes had a release
    database.execute_sql('CREATE TABLE "node" ("id" VARCHAR(64) PRIMARY KEY, "name" VARCHAR(63), '
                         '"address" VARCHAR(255), "cert_fingerprint" VARCHAR(71), "founder" INTEGER, '
                         '"last_seen" DATETIME, "health" TEXT, "created_at" DATETIME, "updated_at" DATETIME)')
    migration = importlib.import_module("appliance.cluster.migrations.0002_node_version")
    migration.up(database)
    migration.up(database)  # a database 0001 made from the live models has them already: nothing to add
    assert {"version", "confirmed_at"} <= {c.name for c in database.get_columns("node")}
    database.close()


def test_the_same_node_may_redeem_its_token_again_until_its_first_heartbeat(founder):
    settings, _ = founder
    secret = _secret(settings)
    first = membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr())
    with pytest.raises(errors.Unauthorized, match="already used by node 'n1'"):
        membership.redeem(settings, secret, "n2", "10.0.0.6:8120", _csr("n2"))  # another node: never
    again = membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr())
    assert again["certificate"] != first["certificate"]
    node = models.Node.get(models.Node.name == "n1")
    assert node.cert_fingerprint == pki.fingerprint(again["certificate"]) and models.Node.select().count() == 2
    membership.heartbeat(settings, "n1", None, {})
    with pytest.raises(errors.Unauthorized, match="already used by node 'n1'"):
        membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr())


def test_a_members_clouds_yaml_names_the_site_until_it_leaves(settings):
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    own = cli.clouds_yaml(settings, "Own-Pass-1")  # a standalone box: its own cloud, with its admin's password
    assert yaml.safe_load(open(own))["clouds"]["egret"]["auth"]["password"] == "Own-Pass-1"
    api = {"identity_url": "https://10.0.0.1:5000/v3", "region": "RegionOne", "endpoints": [
        {"label": "identity (Keystone v3)", "url": "https://10.0.0.1:5000/v3"}]}
    membership.state_dir(settings).mkdir(parents=True, exist_ok=True)
    membership.write_json(membership.site_file(settings), {"site": "lyon", "role": "member", "node": "n1",
                                                           "ca_fingerprint": "x", "seeds": [], "api": api})
    # `egret up` and `egret bootstrap` on a member write the site's, whatever password they hold
    doc = yaml.safe_load(open(cli.clouds_yaml(settings, "Own-Pass-1")))["clouds"]["egret"]
    assert doc["auth"]["auth_url"] == api["identity_url"] and "password" not in doc["auth"]
    assert "Own-Pass-1" in (settings.state_dir / siteclouds.STANDALONE).read_text()
    membership.leave(settings)
    assert yaml.safe_load(open(own))["clouds"]["egret"]["auth"]["password"] == "Own-Pass-1"


def test_the_join_answer_gives_the_site_api_and_the_ca_its_certificate_chains_to(tmp_path):
    founder = make_settings(tmp_path / "f", tls={"enabled": True}, public_host="10.0.0.1")
    app = create_app(founder, background=False)
    membership.found(founder, "lyon")
    ca_pem = pki.ensure_api_tls(founder)["ca"].read_text()
    with app.app_context():
        api = membership.redeem(founder, _secret(founder), "n1", "10.0.0.5:8120", _csr())["api"]
    assert api["identity_url"] == f"https://10.0.0.1:{founder.port('identity')}/v3" and api["ca_certificate"] == ca_pem
    assert {"label": "identity (Keystone v3)", "url": api["identity_url"]} in api["endpoints"]
    member = make_settings(tmp_path / "m")
    (membership.state_dir(member) / "member").mkdir(parents=True)
    siteclouds.install(member, membership.state_dir(member) / "member", api)
    doc = yaml.safe_load(open(siteclouds.write(member, api)))["clouds"]["egret"]
    assert open(doc["cacert"]).read() == ca_pem
