"""Unit-test fixtures: the compute API on the fake driver and fake network/image/volume clients."""
from __future__ import annotations

import subprocess

import pytest

import services.compute as compute
from appliance.db import open_service_database
from appliance.testing.plugin import make_settings
from appliance.testing.postgres import new_database
from services.compute import build_api, models
from services.compute.drivers.fake import FakeDriver
from services.compute.fakes import fake_clients
from services.compute.models import Instance

PROJECT, OTHER = "p-test", "p-other"


class Api:
    """Thin helper around the Flask test client: token + microversion headers on every call."""

    def __init__(self, app, token, version="2.79"):
        self.client = app.test_client()
        self.token = token
        self.version = version

    def headers(self, version=None, token=None):
        h = {"X-Auth-Token": token or self.token}
        v = version or self.version
        if v:
            h["OpenStack-API-Version"] = f"compute {v}"
        return h

    def __getattr__(self, method):
        if method not in ("get", "post", "put", "delete"):
            raise AttributeError(method)

        def call(path, json=None, version=None, token=None, **kw):
            return getattr(self.client, method)(path, json=json, headers=self.headers(version, token), **kw)
        return call


class Env:
    def __init__(self, settings, mint_token, tmp_path):
        self.settings = settings
        self.driver = FakeDriver(prefix="egunit-")
        self.clients = fake_clients()
        self.network, self.image, self.volume = (self.clients[k] for k in ("network", "image", "volume"))
        open_service_database(settings, "compute", models.database)
        self.app = build_api(settings, self.driver, self.clients, synchronous=True)
        self.manager = self.app.extensions["egret.manager"]
        self.net = self.network.add_network("private", PROJECT)
        self.other_net = self.network.add_network("theirs", OTHER)
        disk = tmp_path / "tiny.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
        self.image_meta = self.image.add_image(path=str(disk), name="tiny")
        self.member_token = mint_token(user_id="u-member", project_id=PROJECT, roles=["member", "reader"])
        self.other_token = mint_token(user_id="u-other", project_id=OTHER, roles=["member", "reader"])
        self.admin_token = mint_token(user_id="u-admin", project_id="p-admin", roles=["admin", "member", "reader"])
        self.reader_token = mint_token(user_id="u-reader", project_id=PROJECT, roles=["reader"])
        # the fake services learn who each token is, as the real ones do from identity's keys
        self.auth = self.network.auth
        self.auth.register(self.member_token, PROJECT, ["member", "reader"])
        self.auth.register(self.other_token, OTHER, ["member", "reader"])
        self.auth.register(self.admin_token, "p-admin", ["admin", "member", "reader"])
        self.auth.register(self.reader_token, PROJECT, ["reader"])
        self.api = Api(self.app, self.member_token)
        self.admin = Api(self.app, self.admin_token)
        self.other = Api(self.app, self.other_token)

    def server_body(self, **kw):
        body = {"name": "vm1", "imageRef": self.image_meta["id"], "flavorRef": "6",
                "networks": [{"uuid": self.net["id"]}]}
        body.update(kw)
        return {"server": body}

    def boot(self, **kw):
        resp = self.api.post("/v2.1/servers", json=self.server_body(**kw))
        assert resp.status_code == 202, resp.json
        return resp.json["server"]["id"]

    def count(self):
        with compute.models.database.connection_context():
            return Instance.select().count()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request, tmp_path):
    """SQLite always; also a fresh PostgreSQL database per test with --postgres."""
    extra = {}
    if request.param == "postgres":
        extra["database_url"] = new_database(request.getfixturevalue("postgres_url"), "compute")
    return make_settings(tmp_path / "state", **extra)


@pytest.fixture
def db(settings):
    """The compute database alone (SQLite, and PostgreSQL with --postgres), connected for the test."""
    database = open_service_database(settings, "compute", models.database)
    with database.connection_context():
        yield database


@pytest.fixture
def env(settings, mint_token, tmp_path):
    settings.service["compute"] = {"instances_dir": str(tmp_path / "instances"), "shutdown_timeout": 0}
    return Env(settings, mint_token, tmp_path)
