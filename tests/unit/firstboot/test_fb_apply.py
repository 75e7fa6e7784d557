"""Review and apply: everything applied in order, failures rolled back with the reason, resume after restart."""
import threading
import time
import tomllib

import yaml

from appliance import config, jointoken
from firstboot import create_app
from firstboot.steps import BY_NAME
from firstboot.system.fake import FakeSystem

from fb_unit_helpers import Box

PASSWORD = "Correct-Horse-9"


def test_standalone_apply_writes_config_bootstraps_and_starts(unlocked):
    run = unlocked.complete_steps().apply_and_wait()
    assert run["status"] == "done", run
    assert [t["status"] for t in run["tasks"]] == ["done"] * len(run["tasks"])
    conf = tomllib.loads((unlocked.settings.config_dir / "egret.toml").read_text())
    assert conf["public_host"] == "192.168.1.30" and conf["bind_host"] == "0.0.0.0"
    assert conf["service"]["box"]["hostname"] == "edge-01"
    assert conf["service"]["cluster"]["role"] == "standalone"
    assert conf["service"]["storage_layout"]["disks"] == {"volumes": "sdb"}
    assert unlocked.identity.admin_password == PASSWORD
    assert unlocked.services.running == ["identity", "compute"] and unlocked.services.kept_running
    assert unlocked.system.prepared == {"/dev/sdb": "egret-sdb"}
    root = unlocked.system.root
    assert (root / "etc/hostname").read_text() == "edge-01\n"
    assert (root / "etc/timezone").read_text() == "Europe/Paris\n"
    assert "NTP=pool.ntp.org" in (root / "etc/systemd/timesyncd.conf.d/egret.conf").read_text()
    assert (root / "etc/resolv.conf").read_text() == "nameserver 192.168.1.1\n"
    # the confirmed management network is written down for the next boot (systemd-networkd)
    mgmt = (root / "etc/systemd/network/10-egret-mgmt.network").read_text()
    assert "Address=192.168.1.30/24" in mgmt and "Gateway=192.168.1.1" in mgmt and "DNS=192.168.1.1" in mgmt
    clouds = yaml.safe_load(unlocked.client.get("/clouds.yaml").data)
    assert clouds["clouds"]["egret"]["auth"]["password"] == PASSWORD
    assert clouds["clouds"]["egret"]["auth"]["auth_url"].startswith("http://192.168.1.30:")
    assert unlocked.wizard.state.setup_done
    page = unlocked.client.get("/done").data.decode()
    assert "Download clouds.yaml" in page and "healthy" in page
    # the wizard is closed now
    assert unlocked.post("box", {"hostname": "x", "timezone": "UTC"}).status_code == 400
    assert unlocked.client.post("/api/unlock", json={"code": unlocked.code}).status_code == 409


def test_failed_service_start_rolls_back_everything(unlocked):
    unlocked.services.fail_start["compute"] = "compute exited with 1"
    run = unlocked.complete_steps().apply_and_wait()
    assert run["status"] == "failed"
    assert run["error"].startswith("Start the compute service failed: compute exited with 1. Rolled back:")
    statuses = {t["id"]: t["status"] for t in run["tasks"]}
    assert statuses["start:compute"] == "failed"
    assert statuses["start:identity"] == statuses["step:admin"] == statuses["config"] == "undone"
    assert not (unlocked.settings.config_dir / "egret.toml").exists()
    assert unlocked.identity.admin_password is None and "undo_bootstrap" in unlocked.identity.calls
    assert unlocked.services.running == []
    assert unlocked.system.prepared == {}
    assert not (unlocked.system.root / "etc/hostname").exists()
    assert not (unlocked.system.root / "etc/systemd/network/10-egret-mgmt.network").exists()
    assert not (unlocked.settings.state_dir / "storage" / "volumes").is_symlink()
    assert not unlocked.wizard.state.setup_done
    page = unlocked.client.get("/step/apply").data.decode()
    assert 'id="apply-failed"' in page and "compute exited with 1" in page
    # fix the cause and apply again
    del unlocked.services.fail_start["compute"]
    assert unlocked.apply_and_wait()["status"] == "done"


def test_unhealthy_service_fails_the_health_check(unlocked):
    unlocked.services.unhealthy.add("identity")
    run = unlocked.complete_steps().apply_and_wait()
    assert run["status"] == "failed" and "unhealthy: identity (down)" in run["error"]


def test_a_unit_slow_to_answer_the_final_health_check_is_asked_again(unlocked):
    # on a busy box a unit that was healthy when started may not answer at once: asked again, it passes
    unlocked.services.unhealthy.add("identity")
    unlocked.services.health_wait = 30.0
    threading.Timer(1.0, unlocked.services.unhealthy.clear).start()
    run = unlocked.complete_steps().apply_and_wait()
    assert run["status"] == "done", run


def _join_token(expires_in=600):
    return jointoken.make_token("join", ca_fingerprint="sha256:" + "cd" * 32, expires_at=time.time() + expires_in,
                                addresses=["10.9.9.9:9443"])


def test_join_redeems_the_token_then_forgets_it(unlocked):
    token = _join_token()
    unlocked.complete_steps(role={"role": "join", "token": token, "fingerprint_confirmed": True})
    assert unlocked.membership.calls == [("check_peer", "join")]
    run = unlocked.apply_and_wait()
    assert run["status"] == "done", run
    assert ("join", token) in unlocked.membership.calls and unlocked.membership.role == "join"
    assert token not in unlocked.wizard.state.path.read_text()  # spent: not kept after setup
    assert 'node_name = "edge-01"' in (unlocked.settings.config_dir / "egret.toml").read_text()


def test_a_joined_box_starts_no_api_unit_of_its_own(unlocked):
    unlocked.complete_steps(role={"role": "join", "token": _join_token(), "fingerprint_confirmed": True})
    secret = unlocked.client.post("/api/steps/admin/totp").json["secret"]
    code = BY_NAME["admin"].totp_code(secret, unlocked.clock())
    assert unlocked.post("admin", {"password": PASSWORD, "password_confirm": PASSWORD, "totp": True,
                                   "totp_code": code}).status_code == 200
    run = unlocked.apply_and_wait()
    assert run["status"] == "done", run
    tasks = {t["id"]: t for t in run["tasks"]}
    # the role step joined before the units' turn: identity and compute are the founder's now
    for unit in ("identity", "compute"):
        assert tasks[f"start:{unit}"]["status"] == "done"
        assert tasks[f"start:{unit}"]["detail"].startswith("not run: this box is a site's member"), tasks
    assert unlocked.services.running == [] and tasks["health"]["detail"] == "0 healthy"
    # the box's own admin has no second factor to enrol: the site's admin is the founder's
    assert tasks["totp"]["detail"].startswith("not enrolled") and unlocked.identity.totp_secret is None


def test_failed_join_rolls_back_and_says_why(unlocked):
    unlocked.membership.refuse_apply = "https://10.9.9.9:9443/v1/cluster/join refused: the join token has expired"
    unlocked.complete_steps(role={"role": "join", "token": _join_token(), "fingerprint_confirmed": True})
    run = unlocked.apply_and_wait()
    assert run["status"] == "failed" and "the join token has expired" in run["error"], run
    assert unlocked.identity.calls == [] and unlocked.services.running == []
    assert not (unlocked.settings.config_dir / "egret.toml").exists()
    assert not (unlocked.system.root / "etc/hostname").exists()


def test_expired_token_stops_apply_before_anything_changes(unlocked):
    unlocked.complete_steps(role={"role": "join", "token": _join_token(expires_in=60), "fingerprint_confirmed": True})
    unlocked.clock.advance(120)
    r = unlocked.post("apply", {})
    assert r.status_code == 400 and r.json["error"]["field"] == "token" and "expired" in r.json["error"]["message"]
    assert unlocked.membership.role is None and unlocked.identity.calls == []
    assert not (unlocked.system.root / "etc/hostname").exists()


def test_new_site_is_founded_and_undone_on_failure(unlocked):
    unlocked.services.fail_start["compute"] = "compute would not start"
    unlocked.complete_steps(role={"role": "cluster", "site_name": "lyon"})
    run = unlocked.apply_and_wait()
    assert run["status"] == "failed" and ("cluster", "lyon") in unlocked.membership.calls
    assert unlocked.membership.calls[-1] == ("leave",) and unlocked.membership.role is None


def _founded_on_postgresql(unlocked, url):
    """What founding.found_site answers on a fresh box whose machine has PostgreSQL: the settings file it wrote."""
    path = unlocked.settings.config_dir / "50-database.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'database_url = "{url}"\n')
    unlocked.membership.found_result = {"database": {"engine": "postgresql"},
                                        "move": {"settings_file": str(path), "services": []}}
    return path


def test_a_site_founded_on_postgresql_starts_its_services_there(unlocked):
    url = "postgresql://egret:pw@127.0.0.1:5432/egret_{service}"
    _founded_on_postgresql(unlocked, url)
    unlocked.complete_steps(role={"role": "cluster", "site_name": "lyon"})
    assert unlocked.apply_and_wait()["status"] == "done"
    assert unlocked.services.database_urls == {"identity": url, "compute": url}


def test_a_failed_founding_on_postgresql_removes_its_settings_file(unlocked):
    path = _founded_on_postgresql(unlocked, "postgresql://egret:pw@127.0.0.1:5432/egret_{service}")
    unlocked.services.fail_start["compute"] = "compute would not start"
    unlocked.complete_steps(role={"role": "cluster", "site_name": "lyon"})
    assert unlocked.apply_and_wait()["status"] == "failed"
    assert not path.exists() and unlocked.wizard.ctx.settings.database_url == ""
    assert unlocked.membership.calls[-1] == ("leave",)


def test_apply_refused_until_every_step_is_done(unlocked):
    unlocked.post("admin", {"password": PASSWORD, "password_confirm": PASSWORD})
    r = unlocked.post("apply", {})
    assert r.status_code == 400 and r.json["error"]["field"] == "box"


def test_resume_after_restart_mid_apply(tmp_path):
    box = Box(tmp_path).unlock().complete_steps()
    # simulate a crash after the first three tasks: persisted progress says "running"
    wizard = box.wizard
    wizard.runner.start(background=False)
    def crash(d):
        d["apply"]["status"] = "running"
        d["setup_done"] = False
        for t in d["apply"]["tasks"][3:]:
            t["status"] = "pending"
    wizard.state.update(crash)
    wizard.state.done_marker.unlink()
    box.identity.admin_password = None  # the reboot came before identity was bootstrapped
    box.services.stop_all()
    app = create_app(box.settings, system=box.system, identity=box.identity, services=box.services, clock=box.clock)
    client = app.test_client()
    client.post("/api/unlock", json={"code": box.code})
    run = client.get("/api/apply").json["apply"]
    assert run["status"] == "interrupted"
    # the password is not kept anywhere: it must be typed again
    page = client.get("/step/apply").data.decode()
    assert "Admin password (again)" in page and "Resume setup" in page
    r = client.post("/api/steps/apply", json={})
    assert r.status_code == 400 and r.json["error"]["field"] == "password"
    r = client.post("/api/steps/apply", json={"password": PASSWORD})
    assert r.status_code == 200
    app.extensions["egret.firstboot"].runner._thread.join(10)
    run = client.get("/api/apply").json["apply"]
    assert run["status"] == "done", run
    assert box.identity.admin_password == PASSWORD and box.services.running == ["identity", "compute"]


def test_disk_preparation_failure_rolls_back(unlocked):
    unlocked.system.fail_disk = "mkfs.ext4 failed: /dev/sdb is apparently in use by the system"
    run = unlocked.complete_steps().apply_and_wait()
    assert run["status"] == "failed"
    assert "Prepare the storage disks failed: mkfs.ext4 failed" in run["error"]
    assert "Set host name, time zone and NTP servers" in run["error"]  # undone, and named
    assert not (unlocked.system.root / "etc/hostname").exists()
    assert unlocked.identity.calls == [] and unlocked.services.running == []


def test_storage_apply_creates_directories_and_config(unlocked):
    unlocked.complete_steps()
    run = unlocked.apply_and_wait()
    assert run["status"] == "done"
    layout = tomllib.loads((unlocked.settings.config_dir / "egret.toml").read_text())["service"]["storage_layout"]
    assert layout["volumes_dir"] == str(unlocked.settings.state_dir / "disks" / "sdb" / "volumes")
    assert layout["images_dir"] == str(unlocked.settings.state_dir / "storage" / "images")
    for key in ("volumes_dir", "images_dir", "objects_dir"):
        assert __import__("pathlib").Path(layout[key]).is_dir()
    # the storage service's own area for volumes is now on the disk
    area = unlocked.settings.state_dir / "storage" / "volumes"
    assert area.is_symlink() and area.resolve() == unlocked.settings.state_dir / "disks" / "sdb" / "volumes"


def test_totp_is_registered_with_identity(unlocked):
    secret = unlocked.client.post("/api/steps/admin/totp").json["secret"]
    code = BY_NAME["admin"].totp_code(secret, unlocked.clock())
    assert unlocked.post("admin", {"password": PASSWORD, "password_confirm": PASSWORD, "totp": True,
                                   "totp_code": code}).status_code == 200
    unlocked.post("box", {"hostname": "edge-01", "timezone": "UTC"})
    unlocked.network_static()
    unlocked.post("storage", {"assignments": {}})
    unlocked.post("role", {"role": "standalone"})
    run = unlocked.apply_and_wait()
    assert run["status"] == "done" and run["tasks"][-1]["id"] == "totp"
    assert unlocked.identity.totp_secret == secret
    assert secret not in unlocked.wizard.state.path.read_text()  # the seed leaves the state file once applied
    clouds = yaml.safe_load(unlocked.client.get("/clouds.yaml").data)["clouds"]["egret"]
    assert clouds["auth_type"] == "v3multifactor" and clouds["auth_methods"] == ["v3password", "v3totp"]


def test_management_vlan_is_persisted_as_a_networkd_netdev(tmp_path):
    system = FakeSystem(tmp_path)
    previous = system.persist_network({"interface": "eno1", "mode": "dhcp", "vlan": 42, "dns": []})
    net = tmp_path / "etc/systemd/network"
    assert (net / "10-egret-mgmt.network").read_text() == (
        "[Match]\nName=eno1\n\n[Network]\nVLAN=eno1.42\nLinkLocalAddressing=no\n")
    assert "Kind=vlan\n\n[VLAN]\nId=42" in (net / "10-egret-mgmt-vlan.netdev").read_text()
    assert (net / "11-egret-mgmt-vlan.network").read_text() == "[Match]\nName=eno1.42\n\n[Network]\nDHCP=yes\n"
    system.restore_files(previous)
    assert list(net.iterdir()) == []


REALTIME_ROLE = {"role": "standalone", "realtime": True, "isolated_cpus": "1", "hugepages_2m": 8}


def test_the_realtime_profile_is_written_and_put_in_place(unlocked):
    unlocked.complete_steps(role=REALTIME_ROLE)
    assert unlocked.apply_and_wait()["status"] == "done"
    path = unlocked.settings.config_dir / "realtime.toml"
    # its own settings file, there before egret-realtime.service (here the fake) read it
    assert unlocked.services.realtime_applied == [path.read_text()]
    loaded = config.load(env={"EGRET_CONFIG_DIR": str(unlocked.settings.config_dir)},
                         state_dir=unlocked.settings.state_dir)
    assert loaded.section("realtime") == {"enabled": True, "isolated_cpus": "1", "hugepages_2m": 8}


def test_a_failed_setup_takes_the_realtime_profile_back(unlocked):
    path = unlocked.settings.config_dir / "realtime.toml"
    unlocked.services.fail_start["compute"] = "compute would not start"
    unlocked.complete_steps(role=REALTIME_ROLE)
    assert unlocked.apply_and_wait()["status"] == "failed"
    # applied, then applied again without it: the boot entries are as they were
    assert not path.exists() and len(unlocked.services.realtime_applied) == 2
    assert "enabled = true" in unlocked.services.realtime_applied[0] and unlocked.services.realtime_applied[1] == ""
