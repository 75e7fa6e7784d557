"""Fixtures: a network app on the fake driver, and clients holding tokens of two projects and an admin."""
from __future__ import annotations

import pytest

from services.network import create_app, models
from services.network.drivers.fake import FakeDriver


class Api:
    """A Flask test client bound to one token; returns (status, json)."""

    def __init__(self, client, token):
        self.client, self.token = client, token

    def _call(self, method, path, body=None, **params):
        resp = self.client.open(path, method=method, json=body, query_string=params or None,
                                headers={"X-Auth-Token": self.token})
        return resp.status_code, (resp.get_json(silent=True) if resp.data else None)

    def get(self, path, **params):
        return self._call("GET", path, **params)

    def post(self, path, body):
        return self._call("POST", path, body)

    def put(self, path, body=None):
        return self._call("PUT", path, body)

    def delete(self, path):
        return self._call("DELETE", path)

    def ok(self, method, path, body=None, status=None, **params):
        code, doc = self._call(method, path, body, **params)
        assert code < 300 if status is None else code == status, (code, doc)
        return doc


@pytest.fixture
def driver(settings):
    return FakeDriver(settings, prefix="egt")


@pytest.fixture
def app(settings, driver):
    settings.fake_drivers = True
    settings.service = {"network": {"physical_interface_mappings": {"public": "eth9", "physnet1": "eth8"},
                                    "vni_min": 100, "vni_max": 102}}
    return create_app(settings, driver=driver)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def alice(client, mint_token):
    return Api(client, mint_token(user_id="alice", project_id="proj-a", roles=["member", "reader"]))


@pytest.fixture
def bob(client, mint_token):
    return Api(client, mint_token(user_id="bob", project_id="proj-b", roles=["member", "reader"]))


@pytest.fixture
def reader(client, mint_token):
    return Api(client, mint_token(user_id="carol", project_id="proj-a", roles=["reader"]))


@pytest.fixture
def admin(client, mint_token):
    return Api(client, mint_token(user_id="admin", project_id="proj-admin", roles=["admin", "member", "reader"]))


@pytest.fixture
def snapshot(app):
    return lambda: _snapshot(app)


def _snapshot(app):
    """Every row of every table: compare before and after a failed request to prove nothing changed."""
    with app.app_context():
        models.database.connect(reuse_if_open=True)
        try:
            return {m.__name__: sorted(tuple(sorted((k, str(v)) for k, v in row.items()))
                                       for row in m.select().dicts()) for m in models.ALL}
        finally:
            models.database.close()


@pytest.fixture
def public_net(admin):
    net = admin.ok("POST", "/v2.0/networks", {"network": {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"}})["network"]
    sub = admin.ok("POST", "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "203.0.113.0/24", "ip_version": 4, "enable_dhcp": False,
        "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.20"}]}})["subnet"]
    return net, sub


@pytest.fixture
def alice_net(alice):
    net = alice.ok("POST", "/v2.0/networks", {"network": {"name": "net-a"}})["network"]
    sub = alice.ok("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                                        "ip_version": 4, "name": "sub-a"}})["subnet"]
    return net, sub
