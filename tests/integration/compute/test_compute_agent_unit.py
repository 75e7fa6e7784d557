"""The compute node agent as the real unit (`egret up` runs it from services/manifest.toml under gunicorn TLS):
the site's control plane drives the node's driver through RemoteDriver; every other peer or request is refused
with nothing done."""
from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time

import pytest

from appliance import pki
from appliance.cluster import membership
from services.compute.drivers import base, codec
from services.compute.drivers.remote import RemoteDriver
from tests.integration.compute.founder_support import founded_box

pytestmark = pytest.mark.integration
MiB = 1 << 20
LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A box that founded a site (so it is its own control plane) and runs the agent over its fake driver."""
    # a small body limit: a client can send all of an oversized body before the agent answers and hangs up
    with founded_box(tmp_path_factory.mktemp("agent") / "alpha", ["identity", "cluster", "compute-agent"],
                     f"[service.compute-agent]\nmax_body = {LIMIT}\n") as running:
        yield running


@pytest.fixture(scope="module")
def control(node):
    _, settings = node
    return RemoteDriver.for_node(settings, "alpha", "127.0.0.1")


def _leaf(ca: pki.CertificateAuthority, directory, name: str):
    directory.mkdir(parents=True, exist_ok=True)
    ca.ensure_leaf(directory / f"{name}.crt", directory / f"{name}.key", name, ["127.0.0.1"])
    return directory / f"{name}.crt", directory / f"{name}.key"


def _post(settings, path: str, body: bytes = b"", cert=None, headers=None) -> tuple[int, dict]:
    conn = http.client.HTTPSConnection("127.0.0.1", settings.port("compute_agent"), timeout=30,
                                       context=pki.client_context(membership.site_ca_pem(settings), cert))
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else {}
    finally:
        conn.close()


def _spec(name: str) -> base.GuestSpec:
    return base.GuestSpec(name=name, uuid="7c0e1a6e-0000-4000-8000-000000000001", vcpus=1, memory_mb=64,
                          disks=[base.DiskSpec(path="/nowhere/disk", target="vda")],
                          vifs=[base.VifSpec(bridge="br-x", tap="tap-x", mac="fa:16:3e:00:00:09")])


def test_the_control_plane_drives_the_node(control):
    caps = control.host_caps()
    assert caps.domain_type == "fake" and control.cached_caps() == caps
    control.spawn(_spec("egret-one"))
    try:
        assert "egret-one" in control.list_domains()
        assert control.power_state("egret-one") == base.RUNNING
        assert "fa:16:3e:00:00:09" in control.xml("egret-one")
        with pytest.raises(base.NotFound, match="egret-nothing"):
            control.power_on("egret-nothing")
        with pytest.raises(base.UnsupportedSpec):
            control.check_extra_specs({"hw:cpu_realtime": "yes"}, 1, 64)
    finally:
        control.destroy("egret-one")
    assert control.power_state("egret-one") == base.NOSTATE


def test_an_image_streams_in_and_a_root_disk_streams_out(control):
    """The two streaming methods through gunicorn: a chunked upload checked by hash, a chunked export."""
    if not {"cache_image", "export_root_disk"} <= set(codec.METHODS):
        pytest.skip("the contract has no streaming methods yet")
    data = [b"\0" * MiB] * 3
    digest = hashlib.sha256(b"".join(data)).hexdigest()
    with pytest.raises(base.DriverError, match="img-bad"):
        control.cache_image("img-bad", iter(data), "sha256", "0" * 64)
    assert not control.image_cached("img-bad")

    def broken():   # the image service goes away half-way: the caller sees that, the node keeps nothing
        yield data[0]
        raise ConnectionResetError("image service gone")
    with pytest.raises(ConnectionResetError, match="image service gone"):
        control.cache_image("img-cut", broken(), "sha256", digest)
    assert not control.image_cached("img-cut")
    control.cache_image("img-ok", iter(data), "sha256", digest)
    assert control.image_cached("img-ok")
    control.create_root_disk("srv-1", "img-ok", "raw", 0)
    exported = b"".join(control.export_root_disk("srv-1", "img-ok"))
    assert exported[:4] == b"QFI\xfb" and len(exported) > 0     # a qcow2 image
    with pytest.raises(base.NotFound):
        list(control.export_root_disk("srv-none", "img-ok"))
    control.delete_instance_files("srv-1")


def test_peers_other_than_the_control_plane_are_refused(node, control, tmp_path):
    _, settings = node
    site_ca = pki.box_ca(settings)   # the founder's CA is the site CA
    member = RemoteDriver("alpha", f"127.0.0.1:{settings.port('compute_agent')}", site_ca.cert_pem,
                          _leaf(site_ca, tmp_path / "site", "beta"))
    with pytest.raises(base.DriverError, match=r"Node 'beta' is not this site's control plane.*HTTP 403"):
        member.spawn(_spec("egret-member"))
    # the name it claims is right, the CA that signed it is not: the TLS layer refuses it
    other = pki.CertificateAuthority.create(tmp_path / "other-ca", "Egret elsewhere")
    impostor = RemoteDriver("alpha", f"127.0.0.1:{settings.port('compute_agent')}", site_ca.cert_pem,
                            _leaf(other, tmp_path / "other", "alpha"))
    with pytest.raises(base.DriverError, match="Compute node 'alpha'"):
        impostor.spawn(_spec("egret-impostor"))
    status, body = _post(settings, "/v1/driver/spawn", json.dumps({"spec": codec.encode(_spec("egret-anon"))}).encode())
    assert status == 403 and "certificate issued by this site's CA is required" in body["error"]["message"]
    assert control.list_domains() == []


def test_a_refused_peer_is_answered_before_its_body(node):
    _, settings = node
    ctx = pki.client_context(membership.site_ca_pem(settings))
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", settings.port("compute_agent")), timeout=10) as raw, \
            ctx.wrap_socket(raw) as tls:
        tls.sendall(b"POST /v1/driver/spawn HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000000\r\n\r\n{")
        answer = tls.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403") and time.monotonic() - started < 5, answer


@pytest.mark.parametrize("name", ["__init__", "_dom", "prefix", "files", "from_settings", "__class__", "nope"])
def test_only_the_contracts_public_methods_are_served(node, name):
    _, settings = node
    status, body = _post(settings, f"/v1/driver/{name}", b"{}", cert=membership.node_certificate(settings))
    assert status == 404 and "is not a method of the compute driver contract" in body["error"]["message"]


@pytest.mark.parametrize("body,status,needle", [
    (b"{not json", 400, "Malformed JSON"),
    (b'["egret-x"]', 400, "'arguments': expected an object"),
    (json.dumps({"name": 1}).encode(), 400, "'name': expected str, got int"),
    (json.dumps({"name": "egret-x", "force": True}).encode(), 400, "'force': power_on has no argument 'force'"),
    (json.dumps({}).encode(), 400, "'name': a required argument of power_on is missing"),
])
def test_malformed_arguments_are_refused_naming_the_field(node, body, status, needle):
    _, settings = node
    got, answer = _post(settings, "/v1/driver/power_on", body, cert=membership.node_certificate(settings))
    assert got == status and needle in answer["error"]["message"], answer


def test_unknown_spec_fields_and_oversized_bodies_do_nothing(node, control):
    _, settings = node
    cert = membership.node_certificate(settings)
    doc = codec.encode(_spec("egret-bad"))
    doc["fields"]["disks"][0]["fields"]["backing_file"] = "/etc/shadow"
    status, answer = _post(settings, "/v1/driver/spawn", json.dumps({"spec": doc}).encode(), cert=cert)
    assert status == 400 and "'spec.disks[0].backing_file'" in answer["error"]["message"], answer
    huge = json.dumps({"spec": codec.encode(_spec("egret-huge")), "pad": "x" * (LIMIT + 1000)}).encode()
    status, answer = _post(settings, "/v1/driver/spawn", huge, cert=cert)
    assert status == 413, answer
    status, answer = _post(settings, "/v1/driver/spawn", iter([huge[i:i + 65536] for i in range(0, len(huge), 65536)]),
                           cert=cert)   # an iterable body: http.client sends it chunked
    assert status == 413, answer
    assert control.list_domains() == []


def test_an_offline_node_fails_fast_naming_it(tmp_path):
    ca = pki.CertificateAuthority.create(tmp_path / "ca", "Egret test")
    cert = _leaf(ca, tmp_path, "control")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(base.DriverError, match=r"Compute node 'gone' \(127.0.0.1:\d+\) cannot be reached"):
        RemoteDriver("gone", f"127.0.0.1:{port}", ca.cert_pem, cert).power_state("egret-x")
    # a node that accepts the connection but never answers: the TLS handshake times out on the call's budget
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        drv = RemoteDriver("mute", f"127.0.0.1:{silent.getsockname()[1]}", ca.cert_pem, cert, connect_timeout=0.5,
                           call_timeout=1.0)
        with pytest.raises(base.DriverError, match="Compute node 'mute' .* did not answer in time"):
            drv.host_caps()
    assert time.monotonic() - started < 5
    assert drv.cached_caps() is None
