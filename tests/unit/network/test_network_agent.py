"""The network node agent over real HTTPS with mTLS on 127.0.0.1 (services/network/agent): who gets in, what a bad
request gets back, and how the remote driver carries the node's errors."""
from __future__ import annotations

import http.client
import json

import pytest

from appliance import pki
from appliance.cluster import membership
from appliance.testing.plugin import make_settings
from services.network import agent
from services.network.drivers import base
from services.network.drivers.fake import FakeDriver
from services.network.drivers.remote import RemoteNetworkDriver
from tests.contract.network.network_remote_support import CONTROL, MEMBER, NetworkAgentServer, make_site, remote
from tests.contract.network.test_network_driver_contract import _topology


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    site = make_site(tmp_path_factory.mktemp("site"))
    fake = FakeDriver(prefix="egag")
    settings = make_settings(tmp_path_factory.mktemp("state"), service={"network-agent": {"max_body": 64 * 1024}})
    server = NetworkAgentServer(site, fake, settings=settings)
    yield site, server, fake
    server.stop()


def _post(site, server, path, body: bytes, *, name=CONTROL, headers=None):
    ctx = pki.client_context(site.ca.cert_pem, site.cert(name) if name else None)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def test_the_control_plane_drives_the_node(node):
    site, server, fake = node
    drv = remote(site, server.address)
    topo, ids = _topology(drv.prefix)
    assert drv.prefix == "egag"
    assert drv.vxlan_port == fake.vxlan_port == 4789     # the site's peers flood to the port the node says
    drv.apply(topo)
    assert fake.topology.dhcp[0].network_id == ids["net"]
    assert drv.inventory()["dhcp"] == [ids["net"]]


@pytest.mark.parametrize("name,needle", [(MEMBER, "is not this site's control plane"),
                                         (None, "certificate issued by this site's CA is required")])
def test_a_member_or_an_anonymous_caller_is_refused(node, name, needle):
    site, server, fake = node
    status, doc = _post(site, server, "/v1/driver/teardown", b"{}", name=name)
    assert status == 403 and needle in doc["error"]["message"]
    applied = fake.applied
    with pytest.raises(base.DriverError, match="refused teardown.*HTTP 403"):
        remote(site, server.address, name=MEMBER).teardown()
    assert fake.applied == applied


def test_another_sites_certificate_never_gets_past_tls(node):
    site, server, _ = node
    with pytest.raises(base.DriverError, match="cannot be reached"):
        remote(site, server.address, foreign=True).inventory()


def test_health_is_open(node):
    site, server, _ = node
    ctx = pki.client_context(site.ca.cert_pem, None)
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()


@pytest.mark.parametrize("path,body,status,needle", [
    ("/v1/driver/__init__", b"{}", 404, "not a method of the network driver contract"),
    ("/v1/driver/plug", b'{"tap": "x"}', 404, "not a method"),          # the fake's test hook is no contract method
    ("/v1/driver/apply", b"{}", 400, "'topology': missing"),
    ("/v1/driver/apply", b'{"topology": {"networks": [{"id": 1}]}}', 400, "'topology.networks[0].id': a string"),
    ("/v1/driver/apply", b'{"topology": {"ports": [{"id": "p"}]}}', 400, "'topology.ports[0].tap': missing"),
    ("/v1/driver/apply", b'{"topology": {}, "verify": "yes"}', 400, "'verify': true or false"),
    ("/v1/driver/apply", b'{"topology": {}, "rm": 1}', 400, "'rm': not an argument of apply"),
    ("/v1/driver/apply", b'{"topology": {"routers": [{"floating_ips": 5}]}}', 400, "'topology.routers[0].id'"),
    ("/v1/driver/port_states", b'{"taps": "tap1"}', 400, "'taps': a list"),
    ("/v1/driver/port_states", b"[1]", 400, "a JSON object"),
    ("/v1/driver/inventory", b"{not json", 400, ""),
])
def test_bad_requests_are_named(node, path, body, status, needle):
    site, server, _ = node
    got, doc = _post(site, server, path, body)
    assert got == status and needle in doc["error"]["message"], doc


def test_a_body_over_the_limit_is_413(node):
    site, server, _ = node
    big = json.dumps({"topology": {"vxlan_peers": ["10.0.0.1"] * 20000}}).encode()
    assert _post(site, server, "/v1/driver/apply", big)[0] == 413
    chunks = iter([big[:1000], big[1000:]])
    ctx = pki.client_context(site.ca.cert_pem, site.cert(CONTROL))
    conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=ctx, timeout=10)
    conn.request("POST", "/v1/driver/apply", body=chunks, encode_chunked=True,
                 headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    assert conn.getresponse().status == 413
    conn.close()


def test_the_nodes_refusal_comes_back_as_the_same_error(node):
    site, server, fake = node
    drv = remote(site, server.address)
    topo, _ = _topology(drv.prefix)
    topo.vxlan_peers = ["10.0.0.1; reboot"]
    status, doc = _post(site, server, "/v1/driver/apply",
                        json.dumps({"topology": base.topology_to_dict(topo)}).encode())
    assert status == 422 and doc["driver_error"] == {"type": "RuntimeError",
                                                     "message": doc["error"]["message"]}
    with pytest.raises(RuntimeError, match="10.0.0.1; reboot") as caught:
        drv.apply(topo)
    assert type(caught.value) is RuntimeError


def test_an_offline_node_fails_fast_with_its_name(node):
    site, _, _ = node
    drv = RemoteNetworkDriver("gone", "127.0.0.1:1", site.ca.cert_pem, site.cert(CONTROL), connect_timeout=1)
    with pytest.raises(base.DriverError, match=r"Network node 'gone' \(127.0.0.1:1\) cannot be reached"):
        drv.apply(base.Topology())


def test_for_node_reaches_the_agent_port(settings):
    membership.found(settings, "lab")       # the founder's node certificate, which it reaches its nodes with
    settings.ports = {**settings.ports, "network_agent": 9122}
    drv = RemoteNetworkDriver.for_node(settings, "n2", "fd00::2")
    assert (drv.node, drv.host, drv.port) == ("n2", "fd00::2", 9122)


def test_the_agent_trusts_only_the_founder(settings):
    assert agent.control_plane(settings) == set()
    settings.service = {"network-agent": {"control_plane": "api-1"}}
    assert agent.control_plane(settings) == {"api-1"}



def test_prepare_serves_with_the_nodes_site_certificate(settings):
    membership.found(settings, "lab")
    files = agent.prepare(settings)
    cert, key = membership.node_certificate(settings)
    assert files["cert"].read_text() == cert.read_text() and files["key"].read_text() == key.read_text()
    assert files["ca"].read_text() == membership.site_ca_pem(settings)
    assert files["key"].stat().st_mode & 0o077 == 0                 # the key stays private
    assert agent.control_plane(settings) == {membership.site(settings)["node"]}   # the founder drives itself only
