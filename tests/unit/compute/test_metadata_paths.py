"""Guests see only the metadata trees: /metrics and other non-metadata paths are refused by compute's metadata
port and by the network's metadata proxy in front of it (which also speaks TLS to compute in TLS mode)."""
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from appliance import pki
from appliance.cluster.membership import box_ca
from services.compute.metadata import build_metadata_app, proxy_secret, sign
from services.network.drivers.linux import metadata as proxy

BLOCKED = ["/metrics", "/healthz", "/metrics?x=1", "/latest/metrics", "/openstack/latest/../../metrics",
           "/v2.1/servers", "/static/../metrics"]


def test_metadata_port_refuses_metrics_even_with_a_valid_signature(env):
    app = build_metadata_app(env.settings, env.manager)
    client = app.test_client()
    sid = env.boot()
    headers = {"X-Instance-ID": sid, "X-Instance-ID-Signature": sign(proxy_secret(env.settings), sid)}
    for path in BLOCKED:
        resp = client.get(path, headers=headers)
        assert resp.status_code == 404, path
        assert b"# HELP" not in resp.data and b"# TYPE" not in resp.data, path
    assert client.get("/openstack/latest/meta_data.json", headers=headers).json["uuid"] == sid


def serve(app, ssl_context=None):
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Prometheus(BaseHTTPRequestHandler):
    """An upstream that answers every path with metrics: whatever reaches it, the proxy let through."""

    def do_GET(self):
        body = b"# HELP egret_requests_total x\n# TYPE egret_requests_total counter\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run_proxy(tmp_path, upstream, iid, secret_file, cafile=None):
    conf = tmp_path / "proxy"
    conf.mkdir(exist_ok=True)
    (conf / "metadata.json").write_text(json.dumps({"127.0.0.1": [iid, "p-test"]}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy._Handler)
    server.egret = (conf, "net-1", upstream, secret_file, cafile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def get(server, path):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_proxy_forwards_only_metadata_paths(tmp_path):
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Prometheus)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    p = run_proxy(tmp_path, f"http://127.0.0.1:{upstream.server_address[1]}", "i-1", secret)
    try:
        for path in BLOCKED:
            status, body = get(p, path)
            assert status == 404 and b"# HELP" not in body, path
        assert get(p, "/openstack/latest/meta_data.json")[0] == 200  # metadata paths do go upstream
        assert get(p, "/latest/meta-data/instance-id")[0] == 200
    finally:
        p.shutdown()
        upstream.shutdown()


@pytest.mark.parametrize("trust", ["box-ca", "other-ca"])
def test_proxy_reaches_compute_over_tls_with_the_box_ca(env, tmp_path, trust):
    env.settings.tls = {"enabled": True}
    files = pki.ensure_api_tls(env.settings)
    app = build_metadata_app(env.settings, env.manager)
    compute = serve(app, ssl_context=(str(files["cert"]), str(files["key"])))
    sid = env.boot()
    cafile = files["ca"]
    if trust == "other-ca":
        cafile = pki.CertificateAuthority.create(tmp_path / "other", "someone else").cert_path
    secret = tmp_path / "secret"
    secret.write_text(proxy_secret(env.settings).decode())
    p = run_proxy(tmp_path, f"https://127.0.0.1:{compute.server_port}", sid, secret, str(cafile))
    try:
        status, body = get(p, "/openstack/latest/meta_data.json")
        if trust == "box-ca":
            assert status == 200 and json.loads(body)["uuid"] == sid
            assert get(p, "/metrics")[0] == 404
        else:  # a compute service with a certificate from another CA is not talked to
            assert status == 502 and b"CERTIFICATE_VERIFY_FAILED" in body
        assert box_ca(env.settings).cert_pem == files["ca"].read_text()
    finally:
        p.shutdown()
        compute.shutdown()
