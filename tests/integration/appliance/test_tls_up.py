"""`egret up` with [tls] enabled on loopback: every API answers HTTPS with the box CA's certificate, the catalog
says https, the openstack CLI works with the clouds.yaml's cacert (and fails without it), plain HTTP gets no
answer, and an operator's own certificate (`egret tls install`) replaces the box's after a restart."""
import http.client
import json
import socket
import ssl
import subprocess

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance import config, pki
from appliance.clients import ServiceClient
from appliance.testing.cloud import RunningCloud

SERVICES = ("identity", "compute", "network", "storage")
API_PORTS = ("identity", "compute", "metadata", "network", "image", "volume", "s3")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    running = RunningCloud(tmp_path_factory.mktemp("tls") / "state", services=SERVICES,
                           extra_env={"EGRET_FAKE_DRIVERS": "1", "EGRET_TLS": json.dumps({"enabled": True})})
    running.start()
    yield running
    running.stop()


def clouds(cloud) -> dict:
    return yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"]["egret"]


def https_get(port: int, path: str, cafile: str) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=cafile)  # hostname checked too: the cert names 127.0.0.1
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=15, context=ctx)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_every_api_serves_https_with_the_box_ca(cloud):
    cafile = clouds(cloud)["cacert"]
    assert cafile.endswith("tls/ca.crt") and clouds(cloud)["auth"]["auth_url"].startswith("https://")
    ca_pem = open(cafile).read()
    assert pki.verifies((cloud.state_dir / "tls" / "server.crt").read_text(), ca_pem)
    for name in API_PORTS:
        port = cloud.ports[name]
        ctx = ssl.create_default_context(cafile=cafile)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            served = ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))
            assert pki.verifies(served, ca_pem), name
    assert https_get(cloud.ports["identity"], "/v3", cafile)[0] == 200


def test_plain_http_gets_no_answer(cloud):
    for name in API_PORTS:
        conn = http.client.HTTPConnection("127.0.0.1", cloud.ports[name], timeout=10)
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
            # a TLS server never answers an HTTP request with an HTTP response
            raise AssertionError(f"{name} answered plain HTTP: {resp.status} {body[:80]!r}")


def test_openstack_cli_with_the_cacert_and_an_https_catalog(cloud):
    endpoints = cloud.openstack_json("endpoint", "list")
    assert endpoints and all(e["URL"].startswith("https://") for e in endpoints), endpoints
    cloud.openstack("token", "issue")
    # each service through the CLI (the catalog's https URLs; service-to-service calls verify the box CA too)
    assert cloud.openstack_json("network", "create", "tls-net")["name"] == "tls-net"
    assert any(n["Name"] == "tls-net" for n in cloud.openstack_json("network", "list"))
    cloud.openstack_json("image", "list")
    cloud.openstack_json("volume", "list")
    cloud.openstack_json("server", "list")


def test_service_to_service_calls_verify_the_box_ca(cloud, tmp_path):
    settings = config.load(env=cloud.env)
    assert settings.tls_enabled and settings.url("network").startswith("https://")
    nets = ServiceClient(settings, "compute").get_json("network", "/v2.0/networks")
    assert "networks" in nets
    # the same call against a box whose CA file names another CA: refused by TLS, never sent in the clear
    fake = config.replace(settings, state_dir=tmp_path)
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.crt").write_text(pki.CertificateAuthority.create(tmp_path / "o", "Other").cert_pem)
    (tmp_path / "secrets").mkdir()
    for f in (settings.state_dir / "secrets").glob("compute*"):
        (tmp_path / "secrets" / f.name).write_text(f.read_text())
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        ServiceClient(fake, "compute").get_json("network", "/v2.0/networks")


def test_openstack_cli_without_the_cacert_refuses(cloud, tmp_path):
    doc = {"clouds": {"egret": {**clouds(cloud)}}}
    doc["clouds"]["egret"].pop("cacert")
    bare = tmp_path / "no-ca.yaml"
    bare.write_text(yaml.safe_dump(doc))
    proc = cloud.openstack("token", "issue", check=False, env={**cloud.env, "OS_CLIENT_CONFIG_FILE": str(bare)})
    assert proc.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in proc.stderr + proc.stdout, proc.stderr


def operator_cert(tmp_path):
    """An operator's own CA and a server certificate from it (what a site's PKI would hand over)."""
    ca_dir = tmp_path / "operator-ca"
    ca = pki.CertificateAuthority.create(ca_dir, "Operator Root CA")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloud.example.test")]))
           .sign(key, hashes.SHA256()))
    cert = ca.issue(csr.public_bytes(serialization.Encoding.PEM).decode(), "cloud.example.test",
                    sans=["127.0.0.1", "localhost"])
    (tmp_path / "op.crt").write_text(cert)
    (tmp_path / "op.key").write_text(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()).decode())
    return tmp_path / "op.crt", tmp_path / "op.key", ca.cert_path


def test_operator_certificate_is_installed_and_served(cloud, tmp_path):
    cert, key, ca = operator_cert(tmp_path)
    other = pki.CertificateAuthority.create(tmp_path / "stranger", "Stranger CA").cert_path
    refused = cloud.egret("tls", "install", cert, key, "--ca", other)
    assert refused.returncode == 1 and "not issued by the given CA" in refused.stderr
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text(pki.new_key_and_csr("x")[0])
    refused = cloud.egret("tls", "install", cert, wrong_key, "--ca", ca)
    assert refused.returncode == 1 and "does not belong" in refused.stderr
    done = cloud.egret("tls", "install", cert, key, "--ca", ca)
    assert done.returncode == 0, done.stderr
    cloud.stop()
    cloud.start()
    assert clouds(cloud)["cacert"].endswith("tls/ca.crt")
    assert open(clouds(cloud)["cacert"]).read() == ca.read_text()  # clouds.yaml now trusts the operator's CA
    shown = json.loads(cloud.egret("tls", "show").stdout)
    assert shown["source"] == "operator" and shown["fingerprint"] == pki.fingerprint(cert.read_text())
    with socket.create_connection(("127.0.0.1", cloud.ports["compute"]), timeout=10) as raw, \
            ssl.create_default_context(cafile=str(ca)).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True)).strip() == cert.read_text().strip()
    cloud.openstack("token", "issue")
    assert cloud.openstack_json("network", "list")
    # the box never overwrites an operator's certificate (bootstrap re-ran at the restart)
    assert subprocess.run(["cmp", str(cloud.state_dir / "tls" / "server.crt"), str(cert)]).returncode == 0
