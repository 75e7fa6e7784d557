"""Removing a node that still hosts servers is refused (409), and so is one compute cannot be asked about (503):
the cluster unit asks a compute API over real HTTP with the caller's own token (here a stub on 127.0.0.1)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from appliance import jointoken, pki
from appliance.cluster import membership, models
from appliance.cluster.service import create_app


class Compute:
    """A compute API stub: answers GET /v2.1/servers/detail with `servers` (or `status`), records what it was asked."""

    def __init__(self):
        self.servers, self.status, self.asked = [], 200, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                stub.asked.append((url.path, parse_qs(url.query), self.headers.get("X-Auth-Token")))
                body = json.dumps({"servers": stub.servers} if stub.status == 200 else {"x": 1}).encode()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def server(host):
    return {"id": f"s-{host}", "name": "vm", "OS-EXT-SRV-ATTR:host": host}


@pytest.fixture
def world(settings, mint_token):
    compute = Compute()
    settings.service["endpoints"] = {"compute": compute.url}
    app = create_app(settings, background=False)
    membership.found(settings, "lyon")
    with app.app_context():
        secret = jointoken.parse("join", membership.issue_token(settings, 600)["token"])["secret"]
        membership.redeem(settings, secret, "n1", "10.0.0.5:8120", pki.new_key_and_csr("n1")[1])
    token = mint_token(user_id="u-admin", project_id="p-admin", roles=["admin", "member"])
    client = app.test_client()
    world = type("World", (), {})()
    world.compute, world.settings, world.token = compute, settings, token

    def delete(name="n1"):
        return client.delete(f"/v1/cluster/nodes/{name}", headers={"X-Auth-Token": token})
    world.delete = delete

    def present(name="n1"):
        with app.app_context(), models.database.connection_context():
            return models.Node.get_or_none(models.Node.name == name) is not None
    world.present = present
    yield world
    compute.stop()


def test_a_node_hosting_servers_is_not_removed(world):
    world.compute.servers = [server("n1"), server("n1"), server("elsewhere")]
    resp = world.delete()
    assert resp.status_code == 409, resp.json
    assert resp.json["error"]["message"] == "node n1 still hosts 2 servers; drain it first (egret cluster drain n1)"
    assert world.present()
    # compute was asked for every project's servers on that node, with the caller's own token
    path, query, token = world.compute.asked[-1]
    assert path == "/v2.1/servers/detail" and query == {"all_tenants": ["1"], "host": ["n1"]} and token == world.token
    world.compute.servers = [server("n1")]
    assert "still hosts 1 server;" in world.delete().json["error"]["message"]


def test_an_empty_node_is_removed(world):
    world.compute.servers = [server("elsewhere")]
    assert world.delete().status_code == 204 and not world.present()


@pytest.mark.parametrize("status,code", [(500, 503), (404, 503), (403, 403), (401, 403)])
def test_compute_refusing_or_failing_keeps_the_node(world, status, code):
    world.compute.status = status
    resp = world.delete()
    assert resp.status_code == code and "compute" in resp.json["error"]["message"], resp.json
    assert world.present()


def test_compute_unreachable_keeps_the_node(world):
    world.compute.stop()
    resp = world.delete()
    assert resp.status_code == 503, resp.json
    assert resp.json["error"]["message"].startswith("compute could not be asked whether node n1 still hosts servers")
    assert world.present()
    world.compute = type("Stopped", (), {"stop": lambda self: None})()


def test_a_listing_without_hosts_proves_nothing(world):
    # a token compute does not take for an admin sees its own project's servers, without their hosts
    world.compute.servers = [{"id": "s1", "name": "vm"}]
    resp = world.delete()
    assert resp.status_code == 403 and "which node" in resp.json["error"]["message"] and world.present()


def test_names_are_checked_before_compute_is_asked(world):
    # an unknown name (even one that would smuggle query parameters) and the founder get membership's own answer
    assert world.delete("n1&host=x").status_code == 404
    assert world.delete(membership.node_name(world.settings)).status_code == 400
    assert world.compute.asked == []


def test_a_box_without_compute_removes_without_asking(world):
    world.settings.enabled_services = ["identity", "cluster"]   # and no [endpoints] compute elsewhere
    world.settings.service.pop("endpoints")
    world.compute.servers = [server("n1")]
    assert world.delete().status_code == 204 and world.compute.asked == []
