"""Service-to-service calls: a service user's token from the real identity process, renewal, acting as a user."""
import time

import pytest
import requests

from appliance.clients import ClientError, ServiceClient, write_service_credentials
from appliance.manifest import load_manifest
from appliance.processes import Supervisor
from appliance.revocation import RevocationList
from appliance.testing.plugin import free_port, make_settings
from services.identity.bootstrap import bootstrap


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    state = tmp_path_factory.mktemp("clients")
    settings = make_settings(state / "st", ports={"identity": free_port()}, enabled_services=["identity"],
                             threads=4)
    bootstrap(settings, "Admin-pw-for-clients-1")
    sup = Supervisor(settings, units=[load_manifest()["identity"]])
    sup.start(wait_healthy=60)
    _make_service_user(settings, "storage", "Admin-pw-for-clients-1")
    yield settings
    sup.stop()


def _make_service_user(settings, name, admin_password):
    """What bootstrap does for each enabled service, done through the public API."""
    base = settings.url("identity", "/v3")
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    h = {"X-Auth-Token": requests.post(base + "/auth/tokens", json=auth).headers["X-Subject-Token"]}
    project = requests.get(base + "/projects?name=service", headers=h).json()["projects"][0]["id"]
    password = "svc-" + name + "-Pw-123456"
    user = requests.post(base + "/users", headers=h, json={"user": {"name": name, "domain_id": "default",
                                                                   "password": password}}).json()["user"]["id"]
    for role in ("admin", "service"):
        role_id = requests.get(base + f"/roles?name={role}", headers=h).json()["roles"][0]["id"]
        assert requests.put(base + f"/projects/{project}/users/{user}/roles/{role_id}", headers=h).status_code == 204
    write_service_credentials(settings, name, {"username": name, "password": password, "project": "service"})


def test_service_token_is_cached_and_scoped(identity):
    client = ServiceClient(identity, "storage")
    token = client.service_token()
    assert client.service_token() == token                     # cached until near expiry
    body = client.get_json("identity", "/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert body["token"]["project"]["name"] == "service"
    assert {"admin", "service"} <= {r["name"] for r in body["token"]["roles"]}


def test_revoked_service_token_is_replaced_once(identity):
    client = ServiceClient(identity, "storage")
    old = client.service_token()
    user_id = client.get_json("identity", "/v3/auth/tokens", headers={"X-Subject-Token": old})["token"]["user"]["id"]
    RevocationList(identity.revocation_file, identity.token_expiration).revoke(user_id=user_id)
    time.sleep(0.01)
    # the call with the revoked token gets 401, the client re-authenticates and succeeds
    assert client.request("identity", "GET", "/v3/auth/projects").status_code == 200
    assert client.service_token() != old


def test_acting_as_a_user_and_errors(identity):
    client = ServiceClient(identity, "storage")
    with pytest.raises(ClientError) as err:
        client.request("identity", "GET", "/v3/users", token="not-a-token")
    assert err.value.status == 401
    with pytest.raises(ClientError) as err:
        client.request("identity", "GET", "/v3/projects/does-not-exist")
    assert err.value.status == 404 and err.value.body["error"]["code"] == 404
