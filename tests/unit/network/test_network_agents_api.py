"""GET /v2.0/agents: each node of the site as Neutron agents (`openstack network agent list`), operators only."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

from openstack.network.v2.agent import Agent
from werkzeug.serving import make_server

from appliance import pki
from tests.unit.network.test_network_site_nodes import MEMBERS, _found

FIELDS = {"id", "agent_type", "binary", "topic", "host", "admin_state_up", "alive", "availability_zone",
          "configurations", "created_at", "started_at", "heartbeat_timestamp", "description", "resources_synced"}


def test_a_standalone_box_is_its_own_network_node(admin, settings):
    agents = admin.ok("GET", "/v2.0/agents")["agents"]
    here = pki.node_name(settings)
    assert sorted((a["agent_type"], a["binary"]) for a in agents) == [
        ("DHCP agent", "neutron-dhcp-agent"), ("L3 agent", "neutron-l3-agent"),
        ("Linux bridge agent", "neutron-linuxbridge-agent"), ("Metadata agent", "neutron-metadata-agent")]
    for a in agents:
        assert set(a) == FIELDS and a["host"] == here and a["alive"] is True and a["admin_state_up"] is True
        assert len(a["heartbeat_timestamp"]) == 19 and a["heartbeat_timestamp"][10] == " "
    zones = {a["agent_type"]: a["availability_zone"] for a in agents}
    assert zones == {"DHCP agent": "nova", "L3 agent": "nova", "Linux bridge agent": None, "Metadata agent": None}


def test_a_site_lists_every_node_alive_as_its_membership_says(admin, settings):
    members = [{**m, "last_seen": "2026-12-02T23:40:01Z"} for m in MEMBERS]
    _found(settings, members)
    agents = admin.ok("GET", "/v2.0/agents")["agents"]
    by_host = {}
    for a in agents:
        by_host.setdefault(a["host"], set()).add(a["agent_type"])
    assert by_host == {"boss": {"Linux bridge agent", "DHCP agent", "L3 agent", "Metadata agent"},
                       "n2": {"Linux bridge agent"}, "n3": {"Linux bridge agent"}, "n4": {"Linux bridge agent"}}
    alive = {a["host"]: a["alive"] for a in agents if a["agent_type"] == "Linux bridge agent"}
    assert alive == {"boss": True, "n2": True, "n3": False, "n4": True}
    assert {a["heartbeat_timestamp"] for a in agents} == {"2026-12-02 23:40:01"}
    # the client's filters: --host, --agent-type
    assert [a["host"] for a in admin.ok("GET", "/v2.0/agents", host="n3")["agents"]] == ["n3"]
    assert {a["host"] for a in admin.ok("GET", "/v2.0/agents", agent_type="DHCP agent")["agents"]} == {"boss"}
    # ids are stable across calls, and each shows alone
    again = admin.ok("GET", "/v2.0/agents")["agents"]
    assert [a["id"] for a in again] == [a["id"] for a in agents]
    n3 = next(a for a in agents if a["host"] == "n3")
    assert admin.ok("GET", f"/v2.0/agents/{n3['id']}")["agent"] == n3
    sdk = Agent.existing(**n3)
    assert sdk.is_alive is False and sdk.agent_type == "Linux bridge agent" and sdk.host == "n3"


def test_an_unknown_agent_is_404_and_members_are_refused(admin, alice, reader):
    code, doc = admin.get("/v2.0/agents/00000000-0000-0000-0000-000000000000")
    assert code == 404 and doc["NeutronError"]["type"] == "AgentNotFound"
    assert alice.get("/v2.0/agents")[0] == 403 and reader.get("/v2.0/agents")[0] == 403
    agent = admin.ok("GET", "/v2.0/agents")["agents"][0]
    assert alice.get(f"/v2.0/agents/{agent['id']}")[0] == 403


def test_the_agent_extension_is_listed(alice):
    assert alice.ok("GET", "/v2.0/extensions/agent")["extension"]["alias"] == "agent"
    assert "agents" in {r["collection"] for r in alice.ok("GET", "/v2.0")["resources"]}


def test_the_openstack_cli_lists_and_shows_them(app, settings, mint_token):
    """The unmodified `openstack` CLI against the app over HTTP (a token given directly, no catalog)."""
    _found(settings, [{**m, "last_seen": "2026-12-02T23:40:01Z"} for m in MEMBERS])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = mint_token(user_id="admin", project_id="proj-admin", roles=["admin", "member", "reader"])
    cli = [str(Path(sys.executable).parent / "openstack"), "--os-auth-type", "admin_token", "--os-token", token,
           "--os-endpoint", f"http://127.0.0.1:{server.server_port}"]

    def run(*args):
        out = subprocess.run([*cli, *args, "-f", "json"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)
    try:
        dhcp = run("network", "agent", "list", "--agent-type", "dhcp")
        assert [(a["Host"], a["Binary"], a["Alive"]) for a in dhcp] == [("boss", "neutron-dhcp-agent", True)]
        (n3,) = run("network", "agent", "list", "--host", "n3")
        assert (n3["Agent Type"], n3["Alive"], n3["State"]) == ("Linux bridge agent", False, True)
        shown = run("network", "agent", "show", n3["ID"])
        assert shown["host"] == "n3" and shown["alive"] is False and shown["binary"] == "neutron-linuxbridge-agent"
    finally:
        server.shutdown()
        server.server_close()
