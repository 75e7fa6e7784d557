"""Headless answers file = same result as the wizard; HTML pages (no JS); the dev-mode dashboard."""
import io
import re

import yaml

from firstboot.headless import run_answers
from firstboot.state import WizardState

from fb_unit_helpers import Box

PASSWORD = "Correct-Horse-9"
ANSWERS = {
    "admin": {"password": PASSWORD},
    "box": {"hostname": "edge-01", "timezone": "Europe/Paris", "ntp_servers": ["pool.ntp.org"]},
    "network": {"interface": "eth0", "mode": "static", "address": "192.168.1.30/24", "gateway": "192.168.1.1",
                "dns": ["192.168.1.1"]},
    "storage": {"assignments": {"volumes": "sdb"}},
    "role": {"role": "standalone"},
}


def _files(box):
    root = box.system.root
    out = {p.relative_to(root).as_posix(): (p.read_text() if not p.is_symlink() else "-> " + str(p.readlink()))
           for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    out["egret.toml"] = (box.settings.config_dir / "egret.toml").read_text().replace(str(box.settings.state_dir), "S")
    return out


def _headless(tmp_path, answers, name="headless"):
    box = Box(tmp_path / name)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(answers))
    out = io.StringIO()
    rc = run_answers(box.settings, str(path), system=box.system, identity=box.identity, services=box.services,
                     out=out)
    return box, rc, out.getvalue()


def test_headless_matches_the_wizard(tmp_path):
    web = Box(tmp_path / "web").unlock().complete_steps()
    assert web.apply_and_wait()["status"] == "done"
    box, rc, out = _headless(tmp_path, ANSWERS)
    assert rc == 0, out
    assert "Setup complete" in out
    assert _files(box) == _files(web)
    assert box.identity.admin_password == web.identity.admin_password == PASSWORD
    assert box.wizard.state.setup_done is False or True  # the headless run has its own Wizard object
    assert WizardState(box.settings).setup_done
    # headless stops the services it verified; `egret up` or the box's units run them
    assert box.services.running == []


def test_headless_same_validation(tmp_path):
    bad = {**ANSWERS, "network": {**ANSWERS["network"], "gateway": "10.0.0.1"}}
    box, rc, out = _headless(tmp_path, bad)
    assert rc == 2
    assert "network.gateway: The gateway 10.0.0.1 is outside the subnet 192.168.1.0/24" in out
    assert box.identity.calls == [] and not (box.settings.config_dir / "egret.toml").exists()
    _, rc, out = _headless(tmp_path, {**ANSWERS, "admin": {"password": "weak"}}, "weak")
    assert rc == 2 and "admin.password: The password is too weak" in out
    _, rc, out = _headless(tmp_path, {k: v for k, v in ANSWERS.items() if k != "role"}, "missing")
    assert rc == 2 and "role: missing" in out and "ok  Management network" not in out
    _, rc, out = _headless(tmp_path, {**ANSWERS, "extra": {}}, "extra")
    assert rc == 2 and "unknown step(s) extra" in out


def test_headless_refuses_a_box_already_set_up(tmp_path):
    box = Box(tmp_path, bootstrapped=True)
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(ANSWERS))
    out = io.StringIO()
    assert run_answers(box.settings, str(path), system=box.system, identity=box.identity, services=box.services,
                       out=out) == 3
    assert "already set up" in out.getvalue()


def _csrf(client):
    with client.session_transaction() as s:
        return s["csrf"]


def test_html_forms_walk_with_errors_naming_fields(unlocked):
    c = unlocked.client
    page = c.get("/step/admin").data.decode()
    assert '<label for="f-password">' in page and 'aria-current="step"' in page
    r = c.post("/step/admin", data={"password": "weak", "password_confirm": "weak", "csrf": _csrf(c)})
    html = r.data.decode()
    assert r.status_code == 400 and 'role="alert"' in html and 'href="#f-password"' in html
    assert re.search(r'id="f-password"[^>]*aria-invalid="true"', html)
    r = c.post("/step/admin", data={"password": PASSWORD, "password_confirm": PASSWORD, "csrf": _csrf(c)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/step/box")
    # TOTP enrolment shows a QR code and asks for the code
    r = c.post("/step/admin", data={"action": "totp", "totp": "on", "csrf": _csrf(c)})
    assert b"<svg" in r.data and b'id="f-totp_code"' in r.data
    # forms without the CSRF token are refused
    assert c.post("/step/box", data={"hostname": "edge", "timezone": "UTC"}).status_code == 400
    r = c.post("/step/box", data={"hostname": "edge_1", "timezone": "UTC", "ntp_servers": "", "csrf": _csrf(c)})
    assert r.status_code == 400 and b"RFC 1123" in r.data
    r = c.post("/step/network", data={"interface": "eth0", "mode": "static", "address": "10.0.0.5/24",
                                      "gateway": "10.0.9.1", "csrf": _csrf(c)})
    assert r.status_code == 400 and b"outside the subnet" in r.data
    r = c.post("/step/network", data={"interface": "eth0", "mode": "static", "address": "10.0.0.5/24",
                                      "gateway": "10.0.0.1", "csrf": _csrf(c)})
    assert r.status_code == 302
    page = c.get("/step/network").data.decode()
    assert "http://10.0.0.5/network/confirm?token=" in page and 'id="countdown"' in page
    r = c.post("/step/storage", data={"disk_volumes": "sdc", "csrf": _csrf(c)})
    assert r.status_code == 400 and b'name="confirm_sdc"' in r.data
    r = c.post("/step/role", data={"role": "join", "token": "garbage", "csrf": _csrf(c)})
    assert r.status_code == 400 and b"must start with" in r.data


def test_static_assets_and_html_404(unlocked):
    assert unlocked.client.get("/static/wizard.css").status_code == 200
    assert b"addEventListener" in unlocked.client.get("/static/wizard.js").data
    r = unlocked.client.get("/nope")
    assert r.status_code == 404 and b"<html" in r.data
    r = unlocked.client.get("/api/nope")
    assert r.status_code == 404 and r.json["error"]["code"] == 404


def test_dev_box_already_bootstrapped_shows_login_then_dashboard(tmp_path):
    box = Box(tmp_path, bootstrapped=True)
    box.settings.state_dir.joinpath("clouds.yaml").write_text("clouds: {egret: {}}\n")
    c = box.client
    r = c.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert c.get("/step/admin").status_code == 302
    assert c.post("/api/unlock", json={"code": box.code}).status_code == 409
    assert c.get("/clouds.yaml").status_code == 302
    c.get("/login")
    r = c.post("/login", data={"password": "wrong", "csrf": _csrf(c)})
    assert r.status_code == 401
    r = c.post("/login", data={"password": "existing", "csrf": _csrf(c)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/done")
    c.post("/logout", data={"csrf": _csrf(c)})
    c.get("/login")
    codes = [c.post("/login", data={"password": "guess", "csrf": _csrf(c)}).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    r = c.post("/login", data={"password": "existing", "csrf": _csrf(c)})
    assert r.status_code == 429 and r.headers["Retry-After"] == "5"  # locked out, even with the right password
    box.clock.advance(6)
    r = c.post("/login", data={"password": "existing", "csrf": _csrf(c)})
    assert r.status_code == 302
    page = c.get("/done").data.decode()
    assert "Service health" in page and "Download clouds.yaml" in page
    assert c.get("/clouds.yaml").data == b"clouds: {egret: {}}\n"
