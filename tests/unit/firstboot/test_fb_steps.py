"""Each step's validation through the JSON API: bad input names the field and leaves the state unchanged."""
import time

import pytest

from appliance import jointoken, realtime
from firstboot.steps import BY_NAME

PASSWORD = "Correct-Horse-9"

FP = "sha256:" + "ab" * 32


def _bad(box, step, answers, field, fragment):
    before = box.state_file()
    r = box.post(step, answers)
    assert r.status_code == 400, r.json
    assert r.json["error"]["field"] == field, r.json
    assert fragment.lower() in r.json["error"]["message"].lower(), r.json
    assert box.state_file().get("answers") == before.get("answers")
    return r.json["error"]


# --- 1 admin ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("password,fragment", [
    ("short1!A", "at least 12"), ("password1234!A", "common word"), ("aaaaaaaaaaaaaaaa", "different characters"),
    ("lowercaseonly12", "three of"), ("myegretbox-2026X", "common word")])
def test_weak_passwords(unlocked, password, fragment):
    _bad(unlocked, "admin", {"password": password, "password_confirm": password}, "password", fragment)


def test_password_mismatch_and_missing_field(unlocked):
    _bad(unlocked, "admin", {"password": PASSWORD, "password_confirm": PASSWORD + "x"}, "password_confirm", "differ")
    _bad(unlocked, "admin", {"password": PASSWORD}, "password_confirm", "required")
    _bad(unlocked, "admin", {"password": PASSWORD, "password_confirm": PASSWORD, "role": "x"}, "/", "additional")


def test_password_is_never_written_to_state(unlocked):
    assert unlocked.post("admin", {"password": PASSWORD, "password_confirm": PASSWORD}).status_code == 200
    assert PASSWORD not in unlocked.wizard.state.path.read_text()


def test_totp_enrolment_requires_the_right_code(unlocked):
    admin = BY_NAME["admin"]
    body = {"password": PASSWORD, "password_confirm": PASSWORD, "totp": True}
    _bad(unlocked, "admin", {**body, "totp_code": "123456"}, "totp", "start totp")
    enrol = unlocked.client.post("/api/steps/admin/totp").json
    assert enrol["uri"].startswith("otpauth://totp/Egret:admin?") and f"secret={enrol['secret']}" in enrol["uri"]
    assert enrol["qr_svg"].lstrip().startswith("<svg")
    now = unlocked.clock()
    good = admin.totp_code(enrol["secret"], now)
    wrong = f"{(int(good) + 1) % 1000000:06d}"
    _bad(unlocked, "admin", {**body, "totp_code": wrong}, "totp_code", "wrong or expired")
    stale = admin.totp_code(enrol["secret"], now - 300)
    if stale != good:
        _bad(unlocked, "admin", {**body, "totp_code": stale}, "totp_code", "wrong or expired")
    _bad(unlocked, "admin", body, "totp_code", "6-digit")
    r = unlocked.post("admin", {**body, "totp_code": good})
    assert r.status_code == 200 and r.json["answers"]["totp"] is True


# --- 2 box --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("hostname", ["-edge", "edge_01", "a" * 64, "edge..lab", "ÉDGE", "box.123", ""])
def test_bad_hostnames(unlocked, hostname):
    _bad(unlocked, "box", {"hostname": hostname, "timezone": "UTC"}, "hostname", "")


def test_hostname_normalized_and_fqdn_allowed(unlocked):
    r = unlocked.post("box", {"hostname": "Edge-01.Example.NET.", "timezone": "Europe/Paris"})
    assert r.json["answers"]["hostname"] == "edge-01.example.net"


def test_bad_timezone_and_ntp(unlocked):
    _bad(unlocked, "box", {"hostname": "edge", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone")
    _bad(unlocked, "box", {"hostname": "edge", "timezone": "UTC", "ntp_servers": ["ok.pool", "bad_host!"]},
         "ntp_servers/1", "bad_host!")
    _bad(unlocked, "box", {"hostname": "edge", "timezone": "UTC", "ntp_servers": ["a.pool", "10.0.0.1", "A.pool"]},
         "ntp_servers/2", "twice")


# --- 3 network ----------------------------------------------------------------------------------------
def _net(**kw):
    return {"interface": "eth0", "mode": "static", "address": "10.1.2.3/24", "gateway": "10.1.2.1", **kw}


@pytest.mark.parametrize("answers,field,fragment", [
    (_net(interface="wlan9"), "interface", "no interface named"),
    (_net(address="10.1.2.300/24"), "address", "not a valid address"),
    (_net(address="10.1.2.3"), "address", "cidr"),
    (_net(address="10.1.2.3/33"), "address", "not a valid"),
    (_net(address="10.1.2.0/24", gateway="10.1.2.1"), "address", "network or broadcast"),
    (_net(address="10.1.2.255/24"), "address", "network or broadcast"),
    (_net(gateway="10.1.3.1"), "gateway", "outside the subnet"),
    (_net(gateway="10.1.2.3"), "gateway", "own address"),
    (_net(gateway="not-an-ip"), "gateway", "not a valid ip"),
    (_net(dns=["1.1.1.1", "1.1.1.1"]), "dns/1", "twice"),
    (_net(dns=["dns.example"]), "dns/0", "not a valid ip"),
    (_net(vlan=5000), "vlan", "4094"),
    (_net(vlan="ten"), "vlan", "invalid value"),
    (_net(mode="manual"), "mode", "invalid value"),
    ({"interface": "eth0", "mode": "dhcp", "address": "10.0.0.2/24"}, "address", "dhcp"),
    ({"interface": "eth0", "mode": "static"}, "address", "required"),
])
def test_bad_network(unlocked, answers, field, fragment):
    _bad(unlocked, "network", answers, field, fragment)
    assert unlocked.system.calls == []  # nothing was applied


def test_ipv6_static_ok(unlocked):
    r = unlocked.post("network", {"interface": "eth0", "mode": "static", "address": "fd00::5/64",
                                  "gateway": "fd00::1"})
    assert r.status_code == 200 and r.json["trial"]["status"] == "pending"


def test_discovery_lists_interfaces_and_disks(unlocked):
    nics = unlocked.client.get("/api/steps/network").json["discovered"]["interfaces"]
    assert {n["name"]: (n["mac"], n["state"], n["speed_mbps"]) for n in nics}["eth0"] == \
        ("52:54:00:12:34:56", "up", 1000)
    disks = unlocked.client.get("/api/steps/storage").json["discovered"]["disks"]
    assert {d["name"]: d["in_use"] for d in disks} == {"sda": True, "sdb": False, "sdc": True}


# --- 4 storage ----------------------------------------------------------------------------------------
def test_disk_in_use_needs_typed_name(unlocked):
    err = _bad(unlocked, "storage", {"assignments": {"volumes": "sdc"}}, "confirm/sdc", "type its name")
    assert "xfs" in err["message"]
    _bad(unlocked, "storage", {"assignments": {"volumes": "sdc"}, "confirm": {"sdc": "sdb"}}, "confirm/sdc", "in use")
    _bad(unlocked, "storage", {"assignments": {"volumes": "sdc"}, "confirm": {"sdc": "SDC"}}, "confirm/sdc", "in use")
    r = unlocked.post("storage", {"assignments": {"volumes": "sdc"}, "confirm": {"sdc": "sdc"}})
    assert r.status_code == 200 and r.json["answers"]["erase_confirmed"] == ["sdc"]


def test_system_disk_and_unknown_disk_refused(unlocked):
    _bad(unlocked, "storage", {"assignments": {"images": "sda"}, "confirm": {"sda": "sda"}}, "assignments/images",
         "running system")
    _bad(unlocked, "storage", {"assignments": {"objects": "nvme9n1"}}, "assignments/objects", "no disk named")
    _bad(unlocked, "storage", {"assignments": {"backups": "sdb"}}, "assignments", "additional")


# --- 5 role -------------------------------------------------------------------------------------------
def _token(kind="join", **kw):
    args = dict(ca_fingerprint=FP, expires_at=time.time() + 3600)
    if kind == "join":
        args["addresses"] = ["10.0.0.1:9443"]
    else:
        args["hub_url"] = "https://hub.example.net"
    args.update(kw)
    return jointoken.make_token(kind, **args)


def test_join_token_validation(unlocked):
    good = _token()
    _bad(unlocked, "role", {"role": "join"}, "token", "must start with")
    _bad(unlocked, "role", {"role": "join", "token": "egret-join:v1:%%%notbase64"}, "token", "damaged")
    _bad(unlocked, "role", {"role": "join", "token": "egret-join:v1:" + good.split(":")[2][:20]}, "token", "damaged")
    _bad(unlocked, "role", {"role": "join", "token": _token(expires_at=unlocked.clock() - 1)}, "token", "expired")
    _bad(unlocked, "role", {"role": "join", "token": _token(ca_fingerprint="md5:00")}, "token", "fingerprint")
    _bad(unlocked, "role", {"role": "join", "token": _token(addresses=[])}, "token", "addresses")
    _bad(unlocked, "role", {"role": "join", "token": _token("enrol")}, "token", "enrol token")
    err = _bad(unlocked, "role", {"role": "join", "token": good}, "fingerprint_confirmed", "SHA256 AB:AB")
    assert err["fingerprint"] == jointoken.pretty_fingerprint(FP) and err["peer"] == ["10.0.0.1:9443"]
    r = unlocked.post("role", {"role": "join", "token": good, "fingerprint_confirmed": True})
    assert r.status_code == 200 and r.json["answers"]["ca_fingerprint"] == FP


def test_join_peer_must_answer_with_the_pinned_ca(unlocked):
    unlocked.membership.refuse_peer = "The peer at https://10.0.0.1:9443 presents CA sha256:99, but the token pins"
    err = _bad(unlocked, "role", {"role": "join", "token": _token(), "fingerprint_confirmed": True}, "token",
               "presents CA")
    assert "role" not in unlocked.answers() and err["field"] == "token"


def test_join_refused_while_the_box_holds_resources(unlocked):
    unlocked.membership.held = "This box holds 1 server, 2 images; they would be lost when it joins"
    _bad(unlocked, "role", {"role": "join", "token": _token(), "fingerprint_confirmed": True}, "role",
         "1 server, 2 images")
    assert "role" not in unlocked.answers() and ("check_peer", "join") not in unlocked.membership.calls


def test_duplicate_hostname_in_cluster_refused(unlocked):
    unlocked.post("box", {"hostname": "edge-01", "timezone": "UTC"})
    _bad(unlocked, "role", {"role": "join", "token": _token(members=["edge-01", "edge-02"]),
                            "fingerprint_confirmed": True}, "hostname", "already used")


def test_enrol_needs_https_hub(unlocked):
    _bad(unlocked, "role", {"role": "enrol", "hub_url": "http://hub", "token": _token("enrol")}, "hub_url", "https")
    _bad(unlocked, "role", {"role": "enrol", "hub_url": "https://other.example.net", "token": _token("enrol"),
                            "fingerprint_confirmed": True}, "hub_url", "issued by the hub at https://hub.example.net")
    r = unlocked.post("role", {"role": "enrol", "hub_url": "https://hub.example.net", "token": _token("enrol"),
                               "fingerprint_confirmed": True})
    assert r.status_code == 200, r.json


def test_new_cluster_needs_site_name(unlocked):
    _bad(unlocked, "role", {"role": "cluster"}, "site_name", "required")
    _bad(unlocked, "role", {"role": "cluster", "site_name": "a.b"}, "site_name", "single label")
    assert unlocked.post("role", {"role": "cluster", "site_name": "lyon"}).status_code == 200


def test_unknown_step_and_non_object_body(unlocked):
    r = unlocked.post("nonsense", {})
    assert r.status_code == 400 and r.json["error"]["field"] == "step"
    r = unlocked.client.post("/api/steps/box", data="[1]", content_type="application/json")
    assert r.status_code == 400 and r.json["error"]["field"] == "/"


def test_realtime_profile_settings_are_checked_against_this_box(unlocked, monkeypatch):
    monkeypatch.setattr(realtime, "possible_cpus", lambda root=None: 4)
    monkeypatch.setattr(realtime, "memory_kib", lambda root=None: 4 * 1024 * 1024)     # 4 GiB
    base = {"role": "standalone", "realtime": True}
    _bad(unlocked, "role", {**base, "isolated_cpus": "2-x"}, "isolated_cpus", "not a CPU list")
    _bad(unlocked, "role", {**base, "isolated_cpus": "3-4"}, "isolated_cpus", "there is no CPU 4")
    _bad(unlocked, "role", {**base, "isolated_cpus": "0-3"}, "isolated_cpus", "at least one CPU for the host")
    _bad(unlocked, "role", {**base, "hugepages_2m": 1025}, "hugepages_2m", "more than half")
    _bad(unlocked, "role", {**base, "hugepages_2m": -1}, "hugepages_2m", "minimum")
    _bad(unlocked, "role", {**base, "hugepages_2m": "8"}, "hugepages_2m", "integer")
    assert "role" not in unlocked.answers()                  # nothing kept from a refused answer
    r = unlocked.post("role", {**base, "isolated_cpus": "3,2", "hugepages_2m": 1024})
    assert r.status_code == 200, r.json
    assert unlocked.answers()["role"]["realtime"] == {"enabled": True, "isolated_cpus": "2-3", "hugepages_2m": 1024}
    # unticked, the other fields say nothing
    assert unlocked.post("role", {"role": "standalone", "realtime": False, "isolated_cpus": "9"}).status_code == 200
    assert "realtime" not in unlocked.answers()["role"]


def test_realtime_profile_from_the_html_form(unlocked):
    page = unlocked.client.get("/step/role")
    assert b'name="realtime"' in page.data and b'name="isolated_cpus"' in page.data
    csrf = page.data.split(b'name="csrf" value="')[1].split(b'"')[0].decode()
    r = unlocked.client.post("/step/role", data={"csrf": csrf, "role": "standalone", "realtime": "on",
                                                 "isolated_cpus": "1", "hugepages_2m": "abc"})
    assert r.status_code == 400 and b"hugepages_2m" in r.data and b"integer" in r.data
    r = unlocked.client.post("/step/role", data={"csrf": csrf, "role": "standalone", "realtime": "on",
                                                 "isolated_cpus": "1", "hugepages_2m": "4"})
    assert r.status_code in (302, 303), r.data[:300]
    assert unlocked.answers()["role"]["realtime"] == {"enabled": True, "isolated_cpus": "1", "hugepages_2m": 4}
