"""[tls] enabled: the console shows the wizard's https URL and its certificate fingerprint; after setup the wizard
hands out a clouds.yaml whose cacert is the box CA (downloadable next to it) and the catalog URLs are https."""
import yaml

from appliance import pki
from fb_unit_helpers import Box
from firstboot import console


def tls_box(tmp_path) -> Box:
    box = Box(tmp_path)
    box.settings.tls = {"enabled": True}
    return box


def test_banner_shows_https_url_and_the_served_fingerprint(tmp_path):
    box = tls_box(tmp_path)
    text = console.banner(box.settings)
    assert f"https://127.0.0.1:{box.settings.port('firstboot')}/" in text
    cert = pki.wizard_tls_files(box.settings)["cert"].read_text()
    fp = pki.browser_fingerprint(cert)
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "SHA-256 fingerprint" in line)
    assert (lines[at + 1].strip() + ":" + lines[at + 2].strip()) == fp and len(fp) == 95
    # the certificate is kept: a second banner (next boot) shows the same fingerprint
    assert fp in "".join(console.banner(box.settings).replace("\n    ", ":").split())


def test_wizard_certificate_is_made_once_even_when_raced(tmp_path):
    box = tls_box(tmp_path)
    first = pki.ensure_wizard_tls(box.settings)
    # a loser of the race finds the directory taken and keeps the winner's files
    again = pki.ensure_wizard_tls(box.settings)
    assert first["cert"].read_text() == again["cert"].read_text()
    assert oct(first["key"].stat().st_mode & 0o777) == "0o600"
    assert not [p for p in first["dir"].parent.iterdir() if p.name.startswith(".tls-wizard-")]


def test_after_setup_clouds_yaml_and_ca_download(tmp_path):
    box = tls_box(tmp_path).unlock().complete_steps()
    assert box.apply_and_wait()["status"] == "done"
    on_box = yaml.safe_load((box.wizard.ctx.settings.state_dir / "clouds.yaml").read_text())["clouds"]["egret"]
    assert on_box["cacert"] == str(pki.api_tls_files(box.settings)["ca"])
    assert on_box["auth"]["auth_url"].startswith("https://192.168.1.30:")
    got = yaml.safe_load(box.client.get("/clouds.yaml").data)["clouds"]["egret"]
    assert got["cacert"] == "egret-ca.crt" and got["auth"]["auth_url"] == on_box["auth"]["auth_url"]
    ca = box.client.get("/egret-ca.crt")
    assert ca.status_code == 200 and ca.data.decode() == open(on_box["cacert"]).read()
    server = pki.api_tls_files(box.settings)["cert"].read_text()
    assert pki.verifies(server, ca.data.decode())
    page = box.client.get("/done").data.decode()
    assert "egret-ca.crt" in page and "https://" in page


def test_ca_download_needs_the_unlocked_wizard_and_tls(tmp_path):
    box = tls_box(tmp_path)
    assert box.client.get("/egret-ca.crt").status_code == 302  # locked: back to the start page
    plain = Box(tmp_path / "plain").unlock()
    assert plain.client.get("/egret-ca.crt").status_code == 404
