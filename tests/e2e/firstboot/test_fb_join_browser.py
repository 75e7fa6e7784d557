"""The wizard joins a real site in headless Chromium: token, pinned CA, node certificate, heartbeats to the founder."""
from __future__ import annotations

import time

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from appliance import config, jointoken, pki
from appliance.cluster import membership
from appliance.testing.cloud import RunningCloud
from fb_e2e_helpers import Shots, wait_http
from test_fb_wizard_browser import _admin_box_network, _alert, _fill, _primary, _unlock, _wait_url

pytestmark = pytest.mark.e2e


@pytest.fixture
def founder(tmp_path, lan):
    """The first node of site 'lyon', on the operator's side of the LAN (the root namespace)."""
    box = RunningCloud(tmp_path / "founder", services=["identity", "cluster"],
                       extra_env={"EGRET_BIND_HOST": "0.0.0.0"})
    (box.state_dir / "etc").mkdir(parents=True)
    (box.state_dir / "etc" / "egret.toml").write_text(
        f'[service.cluster]\nnode_name = "hq"\nadvertise = ["{lan.host_ip}"]\nheartbeat_interval = 1\n')
    box.start()
    membership.found(config.load(env=box.env), "lyon")
    yield box
    box.stop()


def test_join_a_site_in_the_browser(make_box, make_browser, founder, tmp_path):
    founder_cli = founder.egret("join-token")
    assert founder_cli.returncode == 0, founder_cli.stdout + founder_cli.stderr
    token_out = founder_cli.stdout.splitlines()[0]
    ca_fp = jointoken.parse("join", token_out)["ca_fingerprint"]

    box = make_box()
    box.services = ["identity", "cluster", "firstboot"]
    box.service_settings = {"cluster": {"heartbeat_interval": 1}}
    box.start_wizard()
    browser = make_browser(box)
    shot = Shots(browser, "join")
    _unlock(browser, box, shot)
    _admin_box_network(browser, box, shot, totp=False)
    link = WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.ID, "confirm-link")))
    wait_http(box.url(box.lan.new_ip, "/healthz"), timeout=20)
    browser.get(link.get_attribute("href"))
    browser.find_element(By.ID, "confirm").click()
    _wait_url(browser, f"{box.lan.new_ip}:{box.ports['firstboot']}/step/storage")
    _primary(browser)
    _wait_url(browser, "/step/role")

    browser.find_element(By.ID, "role-join").click()
    _fill(browser, "f-token", token_out)
    _primary(browser)
    notice = _alert(browser, "fingerprint")
    # the operator compares this with what `egret join-token` printed on the founder
    assert jointoken.pretty_fingerprint(ca_fp) in founder_cli.stdout and jointoken.pretty_fingerprint(ca_fp) in notice
    shot("role-join-fingerprint")
    browser.find_element(By.ID, "f-fingerprint_confirmed").click()
    _primary(browser)
    _wait_url(browser, "/step/apply")
    review = browser.find_element(By.TAG_NAME, "main").text
    assert "Join a site cluster" in review and jointoken.pretty_fingerprint(ca_fp) in review
    shot("review-join")
    _primary(browser)
    _wait_url(browser, "/progress")
    WebDriverWait(browser, 240).until(lambda d: "/done" in d.current_url or "Setup failed" in d.page_source
                                      or 'class="button primary"' in d.page_source)
    if "Setup failed" in browser.page_source:
        pytest.fail(browser.find_element(By.TAG_NAME, "main").text + "\n" + box.logs())
    shot("progress-join")

    # the box is a member: node certificate from the site CA, and its cluster unit serves with it
    box_settings = config.load(env=box.env)
    info = membership.site(box_settings)
    assert info["role"] == "member" and info["site"] == "lyon" and info["node"] == "edge-e2e", info
    served = pki.request("GET", f"https://{box.lan.new_ip}:{box.ports['cluster']}/v1/cluster", ca_pem=None)
    assert served["cluster"]["role"] == "member" and served["cluster"]["ca_fingerprint"] == ca_fp
    # the founder sees it, online, with the health its heartbeats (mTLS) report
    admin = {"X-Auth-Token": founder.admin_token()}
    deadline, nodes = time.time() + 90, {}
    while time.time() < deadline:
        r = requests.get(f"https://127.0.0.1:{founder.ports['cluster']}/v1/cluster/nodes", headers=admin,
                         verify=False, timeout=10)
        nodes = {n["name"]: n for n in r.json()["nodes"]}
        if nodes.get("edge-e2e", {}).get("status") == "online":
            break
        time.sleep(1)
    node = nodes.get("edge-e2e")
    # it gave up its own cloud: the wizard started none of its API units (the founder's serve the site)
    assert node and node["status"] == "online" and node["health"] == {}, (nodes, box.logs())
    assert node["address"] == f"{box.lan.new_ip}:{box.ports['cluster']}"
    # exactly the founder and the box that joined: the wizard joined once, under its host name
    r = requests.get(f"https://127.0.0.1:{founder.ports['cluster']}/v1/cluster/nodes", headers=admin,
                     verify=False, timeout=10)
    assert {n["name"] for n in r.json()["nodes"]} == {"hq", "edge-e2e"}
