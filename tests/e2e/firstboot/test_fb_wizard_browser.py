"""The wizard in headless Chromium against a real wizard process: standalone setup to a token, and a rollback."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import tomllib

import pytest
import yaml
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance import jointoken

from fb_e2e_helpers import VENV_BIN, Shots, wait_http

pytestmark = pytest.mark.e2e
PASSWORD = "Tern-Heron-2026!"


def _totp_now(secret):
    return TOTP(base64.b32decode(secret), 6, SHA1(), 30, enforce_key_length=False).generate(int(time.time())).decode()


def _fill(driver, field_id, text):
    el = driver.find_element(By.ID, field_id)
    el.clear()
    el.send_keys(text)
    return el


def _alert(driver, element_id="error-summary", timeout=20):
    """The text of an element that appears on the next page (tolerates the page being replaced meanwhile)."""

    def text(d):
        try:
            return d.find_element(By.ID, element_id).text or False
        except StaleElementReferenceException:
            return False
    return WebDriverWait(driver, timeout).until(text)


def _primary(driver):
    driver.find_element(By.CSS_SELECTOR, "form button.primary").click()


def _wait_url(driver, fragment, timeout=30):
    WebDriverWait(driver, timeout).until(EC.url_contains(fragment))


def _unlock(driver, box, shot):
    code = box.setup_code()
    driver.get(box.url())
    shot("unlock")
    # keyboard only: the code field has the focus; Enter submits. A wrong code first: refused, and the
    # error summary takes the focus so a screen reader reads it
    assert driver.switch_to.active_element.get_attribute("id") == "f-code"
    driver.switch_to.active_element.send_keys("WRONG-CODE-0000" + Keys.ENTER)
    assert "Wrong setup code" in _alert(driver)
    WebDriverWait(driver, 5).until(lambda d: d.switch_to.active_element.get_attribute("id") == "error-summary")
    driver.switch_to.active_element.send_keys(Keys.TAB)  # from the summary to the code field
    assert driver.switch_to.active_element.get_attribute("id") == "f-code"
    driver.switch_to.active_element.send_keys(code.lower() + Keys.ENTER)
    _wait_url(driver, "/step/admin")
    # each step's heading or first field is where the keyboard starts
    WebDriverWait(driver, 10).until(lambda d: d.switch_to.active_element.tag_name in ("h1", "input"))


def _admin_box_network(driver, box, shot, *, totp: bool):
    shot("admin")
    secret = None
    if totp:
        driver.find_element(By.CSS_SELECTOR, "button[value=totp]").click()
        secret = driver.find_element(By.CSS_SELECTOR, "code.secret").text
        assert driver.find_element(By.CSS_SELECTOR, ".qr svg")
        shot("admin-totp")
        _fill(driver, "f-password", PASSWORD)
        _fill(driver, "f-password_confirm", PASSWORD)
        _fill(driver, "f-totp_code", "000000" if _totp_now(secret) != "000000" else "111111")
        _primary(driver)
        assert "wrong or expired" in _alert(driver)
        _fill(driver, "f-password", PASSWORD)
        _fill(driver, "f-password_confirm", PASSWORD)
        _fill(driver, "f-totp_code", _totp_now(secret))
    else:
        _fill(driver, "f-password", PASSWORD)
        _fill(driver, "f-password_confirm", PASSWORD)
    _primary(driver)
    _wait_url(driver, "/step/box")
    _fill(driver, "f-hostname", "edge-e2e")
    Select(driver.find_element(By.ID, "f-timezone")).select_by_visible_text("Europe/Paris")
    shot("box")
    _primary(driver)
    _wait_url(driver, "/step/network")
    rows = driver.find_elements(By.CSS_SELECTOR, "table.nics tbody tr")
    assert [r.find_element(By.TAG_NAME, "label").text for r in rows] == [box.lan.nic]
    assert box.lan.box_ip in rows[0].text and "10000 Mb/s" in rows[0].text
    driver.find_element(By.ID, "mode-static").click()
    _fill(driver, "f-address", f"{box.lan.new_ip}/24")
    _fill(driver, "f-gateway", box.lan.host_ip)
    _fill(driver, "f-dns", box.lan.host_ip)
    shot("network")
    _primary(driver)
    return secret


def test_standalone_setup_in_the_browser_then_openstack_token(make_box, make_browser, make_lan, tmp_path):
    box = make_box()
    box.start_wizard()
    browser = make_browser(box)
    shot = Shots(browser, "standalone")
    _unlock(browser, box, shot)
    secret = _admin_box_network(browser, box, shot, totp=True)
    link = WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "confirm-link")))
    assert link.get_attribute("href").startswith(box.url(box.lan.new_ip, "/network/confirm?token="))
    shot("network-pending")
    wait_http(box.url(box.lan.new_ip, "/healthz"), timeout=20)  # the new address is live
    assert box.lan.addresses() == [f"{box.lan.new_ip}/24"]
    browser.get(link.get_attribute("href"))
    shot("network-confirm")
    browser.find_element(By.ID, "confirm").click()
    _wait_url(browser, f"{box.lan.new_ip}:{box.ports['firstboot']}/step/storage")
    shot("storage")
    _primary(browser)
    _wait_url(browser, "/step/role")
    assert browser.find_element(By.ID, "role-standalone").is_selected()
    shot("role")
    # join with a token whose site cannot be reached: the peer's CA fingerprint is shown first, then the step
    # refuses, before anything changes
    fp = "sha256:" + "5e" * 32
    token = jointoken.make_token("join", ca_fingerprint=fp, expires_at=time.time() + 600,
                                 addresses=[f"{box.lan.host_ip}:9"])
    browser.find_element(By.ID, "role-join").click()
    _fill(browser, "f-token", token)
    _primary(browser)
    notice = _alert(browser, "fingerprint")
    assert jointoken.pretty_fingerprint(fp) in notice and f"{box.lan.host_ip}:9" in notice
    shot("role-join-fingerprint")
    browser.find_element(By.ID, "f-fingerprint_confirmed").click()
    _primary(browser)
    WebDriverWait(browser, 30).until(lambda d: "No address in the token answered" in d.page_source)
    assert "/step/role" in browser.current_url and not (box.state / "etc" / "egret.toml").exists()
    shot("role-join-unreachable")
    browser.get(box.url(box.lan.new_ip, "/step/role"))
    browser.find_element(By.ID, "role-standalone").click()
    # the real-time profile, with a CPU this box does not have: refused, naming the field
    browser.find_element(By.ID, "f-realtime").click()
    _fill(browser, "f-isolated_cpus", "99")
    _primary(browser)
    WebDriverWait(browser, 30).until(lambda d: "there is no CPU 99" in d.page_source)
    assert browser.find_element(By.ID, "f-isolated_cpus").get_attribute("aria-invalid") == "true"
    shot("role-realtime-refused")
    _fill(browser, "f-isolated_cpus", "")
    _fill(browser, "f-hugepages_2m", "2")
    _primary(browser)
    _wait_url(browser, "/step/apply")
    review = browser.find_element(By.TAG_NAME, "main").text
    assert "edge-e2e" in review and f"{box.lan.new_ip}/24" in review and "TOTP enrolled" in review
    assert "Real-time profile" in review and "2 MB huge pages: 2" in review
    shot("review")
    _primary(browser)
    _wait_url(browser, "/progress")
    shot("progress")
    WebDriverWait(browser, 180).until(lambda d: "/done" in d.current_url or "Setup failed" in d.page_source
                                      or 'class="button primary"' in d.page_source)
    if "Setup failed" in browser.page_source:
        pytest.fail(browser.find_element(By.TAG_NAME, "main").text + "\n" + box.logs())
    if "/done" not in browser.current_url:
        shot("progress-done")
        browser.find_element(By.CSS_SELECTOR, "a.button.primary").click()
    _wait_url(browser, "/done")
    health = browser.find_element(By.ID, "health").text
    assert "identity" in health and "healthy" in health
    shot("done")
    browser.find_element(By.ID, "download-clouds").click()
    deadline = time.time() + 20
    clouds = browser.downloads / "clouds.yaml"
    while not clouds.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert clouds.exists(), list(browser.downloads.iterdir())
    doc = yaml.safe_load(clouds.read_text())
    assert doc["clouds"]["egret"]["auth"]["auth_url"] == f"http://{box.lan.new_ip}:{box.ports['identity']}/v3"
    # the unmodified openstack CLI, from the operator's side of the LAN, with the downloaded file
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "OS_CLIENT_CONFIG_FILE": str(clouds), "HOME": str(box.tmp),
           "NO_PROXY": "*"}
    assert doc["clouds"]["egret"]["auth_type"] == "v3multifactor"

    def token_issue(*extra):
        return subprocess.run([str(VENV_BIN / "openstack"), "--os-cloud", "egret", *extra, "token", "issue",
                               "-f", "yaml"], env=env, capture_output=True, text=True, timeout=120)
    # the admin enrolled TOTP in the wizard: the password alone is not enough any more
    proc = token_issue("--os-passcode", "000000" if _totp_now(secret) != "000000" else "111111")
    assert proc.returncode != 0 and "401" in proc.stderr
    proc = token_issue("--os-passcode", _totp_now(secret))
    assert proc.returncode == 0, proc.stderr + box.logs()
    assert yaml.safe_load(proc.stdout)["id"]
    # what the wizard wrote
    conf = tomllib.loads((box.state / "etc" / "egret.toml").read_text())
    assert conf["public_host"] == box.lan.new_ip and conf["service"]["box"]["hostname"] == "edge-e2e"
    assert (box.root / "etc" / "hostname").read_text() == "edge-e2e\n"
    assert (box.root / "etc" / "timezone").read_text() == "Europe/Paris\n"
    # the profile has a settings file of its own (egret-realtime.service reads it on an image; not run here)
    profile = tomllib.loads((box.state / "etc" / "realtime.toml").read_text())["service"]["realtime"]
    assert profile == {"enabled": True, "isolated_cpus": "", "hugepages_2m": 2}
    # a phone-sized view of the dashboard
    browser.set_window_size(390, 844)
    browser.save_screenshot(str(shot.dir / "99-done-phone.png"))

    # the same answers through `egret firstboot --answers` on a second box write the same files
    lan2 = make_lan()
    box2 = make_box(lan=lan2)
    answers = {"admin": {"password": PASSWORD},
               "box": {"hostname": "edge-e2e", "timezone": "Europe/Paris",
                       "ntp_servers": ["0.pool.ntp.org", "1.pool.ntp.org"]},
               "network": {"interface": lan2.nic, "mode": "static", "address": f"{lan2.new_ip}/24",
                           "gateway": lan2.host_ip, "dns": [lan2.host_ip]},
               "storage": {"assignments": {}}, "role": {"role": "standalone"}}
    (tmp_path / "answers.yaml").write_text(yaml.safe_dump(answers))
    proc = box2.egret("firstboot", "--answers", tmp_path / "answers.yaml", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert box2.written_files() == box.written_files()

    # stopping the wizard (as systemd would) stops the services it started
    pids = [u["pid"] for u in json.loads((box.state / "run" / "supervisor.json").read_text())["units"].values()
            if u["pid"]]
    assert pids
    os.killpg(box.procs[0].pid, signal.SIGTERM)
    box.procs[0].wait(30)
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")], box.logs()


def test_network_change_not_confirmed_is_rolled_back(make_box, make_browser):
    box = make_box(confirm_timeout=6)
    box.start_wizard()
    browser = make_browser(box)
    shot = Shots(browser, "network-rollback")
    _unlock(browser, box, shot)
    _admin_box_network(browser, box, shot, totp=False)
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "confirm-link")))
    shot("network-pending")
    # nobody confirms: the old address disappears meanwhile, then comes back and the page says why
    alert = _alert(browser, "rollback", timeout=60)
    assert "rolled back because it was not confirmed from the new address within 6 s" in alert
    assert f"{box.lan.box_ip}/24" in alert
    assert box.lan.addresses() == [f"{box.lan.box_ip}/24"]
    shot("network-rolled-back")
    assert "/step/network" in browser.current_url
    # the form keeps what was tried, to adjust and retry; and the page fits a phone
    assert browser.find_element(By.ID, "f-address").get_attribute("value") == f"{box.lan.new_ip}/24"
    browser.set_window_size(390, 844)
    browser.save_screenshot(str(shot.dir / "99-network-phone.png"))
