"""Setup code: hashed at rest, wrong codes rejected, exponential lockout, console banner with a QR code."""
from appliance.testing.plugin import make_settings
from firstboot import console, create_app, setupcode
from firstboot.fakes import FakeIdentity, FakeServices
from firstboot.system.fake import FakeSystem


def test_code_is_stored_hashed_only(box):
    text = box.wizard.code.path.read_text()
    assert setupcode.normalize(box.code) not in text
    assert box.code not in text
    assert oct(box.wizard.code.path.stat().st_mode & 0o777) == "0o600"


def test_wrong_code_is_rejected_and_steps_stay_locked(box):
    r = box.client.post("/api/unlock", json={"code": "AAAA-BBBB-CCCC"})
    assert r.status_code == 401
    assert r.json["error"]["field"] == "code"
    r = box.client.get("/api/state")
    assert r.status_code == 401
    r = box.post("admin", {"password": "x", "password_confirm": "x"})
    assert r.status_code == 401
    assert box.answers() == {}


def test_code_is_case_and_dash_insensitive(box):
    r = box.client.post("/api/unlock", json={"code": box.code.lower().replace("-", " ")})
    assert r.status_code == 200


def test_rate_limit_exponential_lockout(box):
    for _ in range(setupcode.FREE_ATTEMPTS - 1):
        assert box.client.post("/api/unlock", json={"code": "WRONG"}).status_code == 401
    r = box.client.post("/api/unlock", json={"code": "WRONG"})
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "5"
    # even the right code is refused while locked out
    assert box.client.post("/api/unlock", json={"code": box.code}).status_code == 429
    box.clock.advance(5.1)
    r = box.client.post("/api/unlock", json={"code": "WRONG"})
    assert r.status_code == 429 and r.headers["Retry-After"] == "10"  # doubled
    box.clock.advance(10.1)
    assert box.client.post("/api/unlock", json={"code": box.code}).status_code == 200
    # success resets the counter
    assert box.client.post("/api/unlock", json={"code": "WRONG"}).status_code == 401


def test_lockout_grows_to_a_cap():
    assert setupcode.lockout_seconds(0) == 0
    assert setupcode.lockout_seconds(3) == 5
    assert setupcode.lockout_seconds(4) == 10
    assert setupcode.lockout_seconds(40) == setupcode.MAX_LOCKOUT


def test_html_unlock_form_and_query_code(box):
    r = box.client.get("/")
    assert b'<label for="f-code">Setup code</label>' in r.data
    csrf = _csrf(box.client)
    r = box.client.post("/unlock", data={"code": "nope", "csrf": csrf})
    assert r.status_code == 401 and b"Wrong setup code" in r.data and b'aria-invalid="true"' in r.data
    r = box.client.get(f"/?code={box.code}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/step/admin")


def test_reissuing_invalidates_the_old_code(box):
    old = box.code
    new = box.wizard.code.issue()
    assert box.client.post("/api/unlock", json={"code": old}).status_code == 401
    assert box.client.post("/api/unlock", json={"code": new}).status_code == 200


def test_banner_shows_url_code_and_qr(box):
    text = console.banner(box.settings)
    code = next(line.split()[-1] for line in text.splitlines() if "setup code" in line)
    assert len(setupcode.normalize(code)) == 12
    assert f":{box.settings.port('firstboot')}/" in text
    assert "\u2580" in text or "\u2584" in text or "\u2588" in text  # half-block QR modules
    assert box.client.post("/api/unlock", json={"code": code}).status_code == 200


def _csrf(client):
    client.get("/")
    with client.session_transaction() as s:
        return s["csrf"]


def test_metrics_count_wrong_codes_and_show_progress(box):
    for _ in range(4):
        box.client.post("/api/unlock", json={"code": "WRONG"})
    text = box.client.get("/metrics").data.decode()
    assert 'egret_firstboot_unlock_failures_total{reason="wrong_code"} 2.0' in text
    assert 'egret_firstboot_unlock_failures_total{reason="locked_out"} 2.0' in text
    assert "egret_firstboot_setup_done 0.0" in text


def test_new_wizard_prints_a_banner_when_no_code_exists(tmp_path, capsys):
    settings = make_settings(tmp_path / "s")
    create_app(settings, system=FakeSystem(tmp_path / "r"), identity=FakeIdentity(), services=FakeServices())
    out = capsys.readouterr().err
    assert "One-time setup code:" in out
    # a restarted wizard keeps the code the console already shows
    create_app(settings, system=FakeSystem(tmp_path / "r"), identity=FakeIdentity(), services=FakeServices())
    assert "One-time setup code:" not in capsys.readouterr().err
