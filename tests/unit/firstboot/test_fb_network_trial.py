"""Network step: live change, confirmation from the new address, automatic rollback, restart recovery."""
import time

from firstboot import create_app

from fb_unit_helpers import Box


def _start(box, **kw):
    body = {"interface": "eth0", "mode": "static", "address": "192.168.1.30/24", "gateway": "192.168.1.1", **kw}
    r = box.post("network", body)
    return r


def test_change_is_live_then_confirmed_from_new_address(unlocked):
    r = _start(unlocked)
    assert r.status_code == 200
    assert unlocked.system.nics[0]["addresses"] == ["192.168.1.30/24"]
    token = r.json["trial"]["token"]
    # confirming through the old address proves nothing
    r2 = unlocked.client.post("/api/network/confirm", json={"token": token}, base_url="http://192.168.1.20")
    assert r2.status_code == 400 and r2.json["error"]["field"] == "host"
    r2 = unlocked.client.post("/api/network/confirm", json={"token": "forged"}, base_url="http://192.168.1.30")
    assert r2.status_code == 400 and r2.json["error"]["field"] == "token"
    assert "network" not in unlocked.answers()
    r2 = unlocked.client.post("/api/network/confirm", json={"token": token}, base_url="http://192.168.1.30:8000")
    assert r2.status_code == 200
    assert unlocked.answers()["network"]["address"] == "192.168.1.30/24"
    # a later timeout does not undo a confirmed change
    unlocked.clock.advance(120)
    unlocked.wizard.trial.expire()
    assert unlocked.system.nics[0]["addresses"] == ["192.168.1.30/24"]


def test_confirm_page_carries_the_session_to_the_new_address(box):
    box.unlock()
    token = _start(box).json["trial"]["token"]
    other = box.app.test_client()  # a browser tab on the new address has no cookie yet
    other.get("/network/confirm?token=" + token, base_url="http://192.168.1.30")
    with other.session_transaction(base_url="http://192.168.1.30") as s:
        csrf = s["csrf"]
    r = other.post("/network/confirm", data={"token": token, "csrf": csrf}, base_url="http://192.168.1.30")
    assert r.status_code == 302 and r.headers["Location"].endswith("/step/storage") or "/step/" in r.headers["Location"]
    assert other.get("/api/state", base_url="http://192.168.1.30").status_code == 200


def test_not_confirmed_in_time_rolls_back(unlocked):
    token = _start(unlocked).json["trial"]["token"]
    unlocked.clock.advance(61)
    unlocked.wizard.trial.expire()
    assert unlocked.system.nics[0]["addresses"] == ["192.168.1.20/24"]
    assert unlocked.system.routes["default"] == "192.168.1.1"
    trial = unlocked.client.get("/api/network").json["trial"]
    assert trial["status"] == "rolled_back"
    assert "not confirmed from the new address within 60 s" in trial["reason"]
    assert "192.168.1.20/24" in trial["reason"]
    r = unlocked.client.post("/api/network/confirm", json={"token": token}, base_url="http://192.168.1.30")
    assert r.status_code == 400
    assert "network" not in unlocked.answers()
    page = unlocked.client.get("/step/network").data.decode()
    assert 'id="rollback"' in page and "rolled back" in page


def test_failed_apply_is_rolled_back_at_once(unlocked):
    unlocked.system.fail_network = "RTNETLINK answers: Operation not supported"
    r = _start(unlocked, vlan=42)
    assert r.status_code == 400
    assert r.json["error"]["field"] == "network"
    assert "Operation not supported" in r.json["error"]["message"]
    assert "rolled back" in r.json["error"]["message"]
    assert unlocked.system.nics[0]["addresses"] == ["192.168.1.20/24"]  # restored after the half-applied change
    assert "network" not in unlocked.answers()


def test_dhcp_records_the_obtained_address(unlocked):
    token = unlocked.post("network", {"interface": "eth0", "mode": "dhcp"}).json["trial"]["token"]
    r = unlocked.client.post("/api/network/confirm", json={"token": token}, base_url="http://192.168.1.77")
    assert r.status_code == 200
    assert unlocked.answers()["network"]["obtained_address"] == "192.168.1.77/24"


def test_restart_during_trial_rolls_back(tmp_path):
    box = Box(tmp_path).unlock()
    _start(box)
    assert box.system.nics[0]["addresses"] == ["192.168.1.30/24"]
    # the box reboots: a new wizard process over the same state (and the same "hardware")
    create_app(box.settings, system=box.system, identity=box.identity, services=box.services, clock=box.clock)
    assert box.system.nics[0]["addresses"] == ["192.168.1.20/24"]
    assert "restarted before the change was confirmed" in box.state_file()["network_trial"]["reason"]


def test_browser_path_applies_after_answering(tmp_path):
    """With a delay (the default), the request returns first; the change follows; failures surface by polling."""

    box = Box(tmp_path, network_apply_delay=0.2).unlock()
    r = _start(box)
    assert r.status_code == 200 and r.json["trial"]["status"] == "applying"
    assert box.system.nics[0]["addresses"] == ["192.168.1.20/24"]  # not yet: the answer went out first
    deadline = time.time() + 5
    while box.client.get("/api/network").json["trial"]["status"] == "applying" and time.time() < deadline:
        time.sleep(0.05)
    assert box.client.get("/api/network").json["trial"]["status"] == "pending"
    assert box.system.nics[0]["addresses"] == ["192.168.1.30/24"]
    # a failing change is reported through the same polling, already rolled back
    box.system.fail_network = "RTNETLINK answers: File exists"
    assert _start(box, address="192.168.1.31/24").json["trial"]["status"] == "applying"
    deadline = time.time() + 5
    while box.client.get("/api/network").json["trial"]["status"] == "applying" and time.time() < deadline:
        time.sleep(0.05)
    trial = box.client.get("/api/network").json["trial"]
    assert trial["status"] == "rolled_back" and "File exists" in trial["reason"]
    # the newer change first rolled the pending one back, so the box is on its original address
    assert box.system.nics[0]["addresses"] == ["192.168.1.20/24"]
