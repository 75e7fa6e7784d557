"""The node agent's door (services/compute/agent): who counts as the control plane, and the gate in front of the app."""
from __future__ import annotations

import json

import pytest

from appliance import config
from appliance.cluster import membership
from services.compute.agent import control_plane
from appliance.peergate import PeerGate


@pytest.fixture
def settings(tmp_path):
    return config.Settings(state_dir=tmp_path, config_dir=tmp_path / "etc")


def _site(settings, role: str, members=None) -> None:
    membership.state_dir(settings).mkdir(parents=True, exist_ok=True)
    membership.write_json(membership.site_file(settings), {"site": "edge", "role": role, "node": "here"})
    if members is not None:
        (membership.state_dir(settings) / "member").mkdir()
        (membership.state_dir(settings) / "member" / "members.json").write_text(json.dumps(members))


def test_the_control_plane_is_the_sites_founder(settings):
    assert control_plane(settings) == set()                  # standalone: nobody drives this node from afar
    _site(settings, "founder")
    assert control_plane(settings) == {"here"}


def test_a_member_learns_the_founder_from_its_member_list(settings):
    _site(settings, "member", [{"name": "boss", "founder": True}, {"name": "here", "founder": False}])
    assert control_plane(settings) == {"boss"}
    settings.service = {"compute-agent": {"control_plane": ["api-1", "api-2"]}}
    assert control_plane(settings) == {"api-1", "api-2"}


def test_a_member_that_has_not_heard_from_its_site_trusts_nobody(settings):
    _site(settings, "member")
    assert control_plane(settings) == set()


class _Socket:
    def __init__(self, name):
        self.name = name

    def getpeercert(self):
        return {"subject": ((("commonName", self.name),),)} if self.name else {}


class _Unread:
    def read(self, *a):
        raise AssertionError("the gate read the body")

    readline = read


def _call(gate, path="/v1/driver/spawn", name=None):
    seen = {}
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "POST", "wsgi.input": _Unread(),
               "gunicorn.socket": _Socket(name)}
    body = b"".join(gate(environ, lambda status, headers: seen.update(status=status, headers=dict(headers))))
    return seen["status"], body


def _app(environ, start_response):
    start_response("200 OK", [])
    return [b"served"]


@pytest.mark.parametrize("name,needle", [(None, "certificate issued by this site's CA is required"),
                                         ("member-2", "Node 'member-2' is not this site's control plane")])
def test_the_gate_refuses_before_reading_the_body(name, needle):
    status, body = _call(PeerGate(_app, lambda: {"control"}), name=name)
    assert status.startswith("403") and needle in json.loads(body)["error"]["message"]


def test_the_gate_lets_the_control_plane_and_health_probes_in():
    gate = PeerGate(_app, lambda: {"control"})
    assert _call(gate, name="control") == ("200 OK", b"served")
    assert _call(gate, path="/healthz") == ("200 OK", b"served")
    assert _call(PeerGate(_app, set), name="control")[0].startswith("403")   # standalone: nobody
