"""Before setup, with [tls] enabled: the wizard (a real `egret up` running only firstboot) serves HTTPS with a
self-signed certificate whose SHA-256 fingerprint the console banner shows next to the setup code; a client
that pins that fingerprint gets through, plain HTTP gets no answer."""
import hashlib
import http.client
import json
import re
import socket
import ssl

import pytest

from appliance import pki
from appliance.testing.cloud import RunningCloud


@pytest.fixture(scope="module")
def wizard(tmp_path_factory):
    running = RunningCloud(tmp_path_factory.mktemp("tls-wizard") / "state", services=["firstboot"],
                           extra_env={"EGRET_FAKE_DRIVERS": "1", "EGRET_TLS": json.dumps({"enabled": True})})
    running.start()
    yield running
    running.stop()


def served_certificate(port: int) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # only to read the certificate, which is then compared with the console
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, ctx.wrap_socket(raw) as tls:
        return tls.getpeercert(binary_form=True)


def test_console_fingerprint_matches_the_served_certificate(wizard):
    out = wizard.egret("firstboot", "--banner")  # what the box's console unit prints at every boot
    assert out.returncode == 0, out.stderr
    banner = out.stdout
    assert "One-time setup code:" in banner
    assert re.search(r"https://127\.0\.0\.1:\d+/", banner), banner
    shown = re.search(r"fingerprint is:\s+([0-9A-F:]{47})\s+([0-9A-F:]{47})", banner)
    assert shown, banner
    der = served_certificate(wizard.ports["firstboot"])
    digest = hashlib.sha256(der).hexdigest().upper()
    assert shown.group(1) + ":" + shown.group(2) == ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert pki.browser_fingerprint(ssl.DER_cert_to_PEM_cert(der)) == shown.group(1) + ":" + shown.group(2)


def test_a_client_pinning_the_certificate_gets_the_wizard(wizard, tmp_path):
    pinned = tmp_path / "wizard.pem"
    pinned.write_text(ssl.DER_cert_to_PEM_cert(served_certificate(wizard.ports["firstboot"])))
    ctx = ssl.create_default_context(cafile=str(pinned))  # trusts exactly this self-signed certificate
    ctx.check_hostname = False
    conn = http.client.HTTPSConnection("127.0.0.1", wizard.ports["firstboot"], timeout=15, context=ctx)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    # an unpinned default client refuses it: self-signed, so the operator must compare the fingerprint
    conn = http.client.HTTPSConnection("127.0.0.1", wizard.ports["firstboot"], timeout=15,
                                       context=ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/healthz")


def test_wizard_over_plain_http_gets_no_answer(wizard):
    conn = http.client.HTTPConnection("127.0.0.1", wizard.ports["firstboot"], timeout=10)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        raise AssertionError(f"plain HTTP answered {resp.status}")
