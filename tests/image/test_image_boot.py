"""One booted image (QEMU/TCG, OVMF): before setup only the wizard runs (HTTPS on 443, self-signed; the console
shows its URL, setup code and certificate fingerprint, which the host pins); the wizard's API sets the box up;
then every service is healthy and serves HTTPS from the box CA (plain HTTP gets no answer), the openstack CLI gets
a token with the wizard's clouds.yaml and its CA through hostfwd, and all of it survives a reboot.
The tests share the boot, in order."""
from __future__ import annotations

import hashlib
import http.client
import json
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import requests
import yaml

from appliance.config import DEFAULT_PORTS
from appliance.image import gpt
from appliance.manifest import load_manifest
from appliance.testing.plugin import free_port
from images import testlayer

from egret_qemu import Guest

ADMIN_PASSWORD = "Tern-Heron-Image-2026!"
WIZARD_PORT = 443  # the image's 00-image.toml: until setup is done the box serves only the wizard, HTTPS on 443

# what the host answers through the wizard's JSON API, as the browser would; the box founds site "lab"
ANSWERS = {
    "admin": {"password": ADMIN_PASSWORD, "password_confirm": ADMIN_PASSWORD},
    "box": {"hostname": "egret-box", "timezone": "UTC"},
    # the address QEMU's user network gives the guest, made static (the wizard's network step, live)
    "network": {"mode": "static", "address": "10.0.2.15/24", "gateway": "10.0.2.2", "dns": ["10.0.2.3"]},
    "storage": {"assignments": {}},
    # and the real-time profile (huge pages only: this guest has no CPUs to spare), which the wizard puts in place
    "role": {"role": "cluster", "site_name": "lab", "realtime": True, "hugepages_2m": 8},
}

LATE_HOOK = r"""
modprobe 9pnet_virtio 2>/dev/null; mkdir -p /mnt/share
mountpoint -q /mnt/share || mount -t 9p -o trans=virtio,version=9p2000.L,ro egretshare /mnt/share
listening() { ss -ltnH | awk '{print $4}' | sed 's/.*://' | sort -un | tr '\n' ,; }
compact() { python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), separators=(",", ":")))'; }
if [ -e /var/lib/egret/boot-test-note ]; then
  echo "second-boot note=$(cat /var/lib/egret/boot-test-note) dbs=$(cd /var/lib/egret && ls *.db | tr '\n' ,)"
  echo "second-boot listening=$(listening)"
  echo "second-boot hostname=$(hostname) etc-hostname=$(cat /etc/hostname) mgmt=$(grep -h '^Address=' /etc/systemd/network/10-egret-mgmt.network)"
  echo "second-boot realtime cmdline=$(grep -o 'hugepages[sz]*=[0-9A-Z]*' /proc/cmdline | tr '\n' ,) pages=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) kernel=$(uname -rv | tr ' ' _) show=$(egret realtime show --json | compact)"
  exit 0
fi
echo "pre-setup listening=$(listening) done=$(test -e /var/lib/egret/firstboot/setup-done && echo yes || echo no)"
# the host completes setup through the wizard (its own hardened unit applies it)
while [ ! -e /var/lib/egret/firstboot/setup-done ]; do sleep 2; done
echo "setup-done-seen"
echo "cluster-role=$(egret cluster show | tr -d ' \n')"
echo "after-setup active=$(systemctl is-active egret-identity.service egret-firstboot.service | tr '\n' ,)"
# issue 12: a validating unit reads the token keys but writes neither them nor identity.db (appliance/stateplan.py)
try_as() { runuser -u "$1" -- sh -c "$2" 2>/dev/null && echo yes || echo no; }
echo "perms keys-read=$(try_as egret-storage 'cat /var/lib/egret/fernet-keys/0 >/dev/null') keys-write=$(try_as egret-storage 'touch /var/lib/egret/fernet-keys/x') iddb-write=$(try_as egret-network ': >> /var/lib/egret/identity.db') owners=$(stat -c %U:%a /var/lib/egret/fernet-keys /var/lib/egret/identity.db | tr '\n' ,)"
echo "note-$$" > /var/lib/egret/boot-test-note
echo "first-boot note=note-$$ dbs=$(cd /var/lib/egret && ls *.db | tr '\n' ,)"
# the host creates share/reboot once its HTTP checks are done
while [ ! -e /mnt/share/reboot ]; do sleep 1; done
# the wizard put the box's real-time profile into its boot entry (egret-realtime.service): nothing left to change
entry=/boot/efi/loader/entries/egret-1-a.conf
echo "realtime-entry linux=$(sed -n 's/^linux //p' $entry) initrd=$(sed -n 's/^initrd //p' $entry) unit=$(systemctl is-active egret-realtime.service)"
echo "realtime-apply $(egret realtime apply --json | compact)"
echo reboot-requested; systemctl reboot
"""


def get(url: str, data: bytes | None = None, timeout: float = 30, cafile: str | None = None):
    # a health probe checks that a unit answers; test_every_api_serves_the_box_ca checks whom to trust
    context = None
    if url.startswith("https:"):
        context = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=timeout,
                                    context=context) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def unit_ports(info: dict) -> dict[str, int]:
    """Each unit of the image → the guest port its /healthz answers on (the first port it lists)."""
    manifest = load_manifest()
    return {name: WIZARD_PORT if name == "firstboot" else DEFAULT_PORTS[manifest[name].ports[0]]
            for name in info["units"]}


def healthz(box, name: str, scheme: str = "https") -> str:
    """Every unit of the image serves HTTPS ([tls] enabled in 00-image.toml)."""
    return f"{scheme}://127.0.0.1:{box['fwd'][box['ports'][name]]}/healthz"


def served_fingerprint(port: int) -> tuple[str, str]:
    """(AB:CD:... SHA-256 as browsers show it, PEM) of the certificate behind a forwarded port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # read it; the caller compares it, then pins it
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw, ctx.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2)), ssl.DER_cert_to_PEM_cert(der)


def wizard_session(box):
    """A requests session that trusts exactly the wizard certificate whose fingerprint the console showed."""
    s = requests.Session()
    s.verify = str(box["wizard_pem"])
    s.trust_env = False  # else REQUESTS_CA_BUNDLE in the environment silently replaces s.verify
    return s, f"https://127.0.0.1:{box['fwd'][WIZARD_PORT]}"


def closed(url: str) -> bool:
    """True when nothing answers behind the forwarded port (QEMU accepts, then the guest refuses)."""
    try:
        urllib.request.urlopen(url, timeout=20)
    except urllib.error.HTTPError:
        return False
    except (OSError, http.client.HTTPException):
        return True
    return False


@pytest.fixture(scope="module")
def box(image, image_tmp):
    info = image["info"]
    tmp = image_tmp / "box"
    tmp.mkdir(exist_ok=True)
    (tmp / "share").mkdir()
    ports = unit_ports(info)
    fwd = {guest: free_port() for guest in sorted(set(ports.values()))}
    g = Guest(image["raw"], tmp, "box", smp=2, hostfwd=fwd, share=tmp / "share")
    g.set_hook("late", LATE_HOOK)
    g.start()
    try:
        healthy = g.wait_for(r"EGRET-MARKER healthy uptime=(\S+) slot=a units=(\S+) blessed=\S+ setup=(\w+)", 900)
        yield {"guest": g, "info": info, "ports": ports, "fwd": fwd, "healthy": healthy, "tmp": tmp}
    finally:
        g.stop()
        print(f"--- serial log: {g.log}", file=sys.stderr)


def test_flashed_image_has_no_test_hooks(image):
    """The fw_cfg hooks are the tests' layer: the image users flash carries no unit that runs host-supplied code."""
    offset = gpt.by_name(str(image["flash_raw"]), "root-a").start
    assert not testlayer.has_hooks(f"{image['flash_raw']}?offset={offset}")
    assert testlayer.has_hooks(f"{image['raw']}?offset={offset}")


def test_before_setup_only_the_wizard_runs(box):
    # the boot assessment expected the wizard alone: the box is not set up
    assert box["healthy"].group(2) == "firstboot" and box["healthy"].group(3) == "pending", box["guest"].tail()
    pre = box["guest"].wait_for(r"EGRET-HOOK late: pre-setup listening=(\S*) done=(\w+)", 300)
    assert pre.group(2) == "no"
    listening = {int(p) for p in pre.group(1).split(",") if p}
    assert WIZARD_PORT in listening, listening
    gated = {p for n, p in box["ports"].items() if n != "firstboot"}
    assert not listening & gated, f"gated units listen before setup: {listening & gated}"
    status, body = get(f"https://127.0.0.1:{box['fwd'][WIZARD_PORT]}/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert closed(f"http://127.0.0.1:{box['fwd'][WIZARD_PORT]}/healthz"), "the wizard answers plain HTTP"
    for name, port in box["ports"].items():
        if name != "firstboot":
            assert closed(healthz(box, name)), f"{name} answers before setup"


def test_console_shows_wizard_url_setup_code_and_fingerprint(box):
    text = box["guest"].text()
    # firstboot.console.banner: the guest's address on 443 (no port in the URL), a one-time code, and the
    # SHA-256 fingerprint of the wizard's self-signed certificate on two lines
    url = re.search(r"EGRET-CONSOLE\s+(https://10\.0\.2\.15(:\d+)?/)", text)
    code = re.search(r"EGRET-CONSOLE\s+(?:One-time )?setup code:\s+(\S{6,})", text, re.IGNORECASE)
    halves = re.findall(r"EGRET-CONSOLE\s+([0-9A-F]{2}(?::[0-9A-F]{2}){15})\s*$", text, re.MULTILINE)
    assert url and code and len(halves) >= 2 and "fingerprint is:" in text, box["guest"].tail()
    assert url.group(1) == "https://10.0.2.15/", url.group(0)
    box["code"] = code.group(1)
    # the host pins the certificate only if what the wizard serves is what the console shows
    served, pem = served_fingerprint(box["fwd"][WIZARD_PORT])
    assert served == halves[0] + ":" + halves[1], (served, halves)
    box["wizard_pem"] = box["tmp"] / "wizard.pem"
    box["wizard_pem"].write_text(pem)


def test_wizard_unlocks_with_the_console_code_over_https(box):
    s, base = wizard_session(box)
    page = s.get(base + "/", timeout=60)
    assert page.status_code == 200 and 'name="code"' in page.text, page.text[:500]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    wrong = s.post(base + "/unlock", data={"code": "WRONG-CODE", "csrf": csrf}, timeout=60)
    assert wrong.status_code == 401
    code = box.get("code") or re.search(r"EGRET-CONSOLE\s+One-time setup code:\s+(\S+)", box["guest"].text()).group(1)
    step1 = s.post(base + "/unlock", data={"code": code, "csrf": csrf}, timeout=60)
    assert step1.status_code == 200 and step1.url.endswith("/step/admin"), (step1.url, step1.text[:300])
    assert "Admin account" in step1.text and 'name="password"' in step1.text


def poll(s, url: str, key: str, until, seconds: float, every: float) -> dict:
    """GET url until body[key] satisfies `until` (or time is up), as the wizard's page polls: a slow reply or a
    dropped connection while the box is busy applying (a TCG guest on a loaded host) is asked again."""
    deadline, seen = time.time() + seconds, {}
    while time.time() < deadline:
        try:
            seen = s.get(url, timeout=60).json()[key]
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            time.sleep(every)
            continue
        if until(seen):
            break
        time.sleep(every)
    return seen


def test_wizard_api_completes_setup_inside_its_unit(box):
    """Setup through the wizard's JSON API, as the browser drives it: the apply runs in the wizard's hardened unit
    (systemd starts the units; the wizard writes /etc and founds the site)."""
    s, base = wizard_session(box)
    code = box.get("code") or re.search(r"EGRET-CONSOLE\s+One-time setup code:\s+(\S+)", box["guest"].text()).group(1)
    assert s.post(base + "/api/unlock", json={"code": code}, timeout=60).status_code == 200
    for step in ("admin", "box"):
        r = s.post(f"{base}/api/steps/{step}", json=ANSWERS[step], timeout=120)
        assert r.status_code == 200, r.text
    nics = s.get(base + "/api/steps/network", timeout=60).json()["discovered"]["interfaces"]
    nic = next(n["name"] for n in nics if any(a.startswith("10.0.2.15/") for a in n.get("addresses", [])))
    r = s.post(base + "/api/steps/network", json={"interface": nic, **ANSWERS["network"]}, timeout=120)
    assert r.status_code == 200, r.text
    token = r.json()["trial"]["token"]
    # the change is applied once the answer is out, then awaits confirmation
    trial = poll(s, base + "/api/network", "trial", lambda t: t["status"] != "applying", 120, 0.5)
    assert trial["status"] == "pending", trial
    # confirmed "from the new address": the browser would now reach the box at 10.0.2.15
    r = s.post(base + "/api/network/confirm", json={"token": token},
               headers={"Host": "10.0.2.15"}, timeout=60)
    assert r.status_code == 200, r.text
    for step in ("storage", "role"):
        r = s.post(f"{base}/api/steps/{step}", json=ANSWERS[step], timeout=120)
        assert r.status_code == 200, r.text
    assert s.post(base + "/api/steps/apply", json={}, timeout=120).status_code == 200
    run = poll(s, base + "/api/apply", "apply", lambda r: r["status"] in ("done", "failed"), 900, 3)
    assert run["status"] == "done", json.dumps(run, indent=1)
    # what an operator downloads from the finished wizard: clouds.yaml (cacert egret-ca.crt) and that CA
    clouds, ca = s.get(base + "/clouds.yaml", timeout=60), s.get(base + "/egret-ca.crt", timeout=60)
    assert clouds.status_code == 200 and ca.status_code == 200, (clouds.text[:200], ca.text[:200])
    (box["tmp"] / "wizard-clouds.yaml").write_text(clouds.text)
    (box["tmp"] / "egret-ca.crt").write_text(ca.text)
    g = box["guest"]
    seen = g.wait_for(r"EGRET-HOOK late: setup-done-seen", 300)
    role = g.wait_for(r"EGRET-HOOK late: cluster-role=(\S+)", 120, seen.end())
    assert '"role":"founder"' in role.group(1) and '"site":"lab"' in role.group(1), role.group(0)
    active = g.wait_for(r"EGRET-HOOK late: after-setup active=(\S+)", 60, seen.end())
    assert active.group(1) == "active,active,", active.group(0)
    perms = g.wait_for(r"EGRET-HOOK late: perms (\S+ \S+ \S+ \S+)", 60, seen.end())
    assert perms.group(1) == ("keys-read=yes keys-write=no iddb-write=no "
                              "owners=root:2750,egret-identity:640,"), perms.group(0)
    for name in box["ports"]:
        status, body = get(healthz(box, name))
        assert status == 200 and json.loads(body)["status"] == "ok", (name, body)
    # the founder's cluster unit (its own user, files the root wizard wrote) serves the site CA over TLS
    status, body = get(f"https://127.0.0.1:{box['fwd'][box['ports']['cluster']]}/v1/cluster")
    assert status == 200 and json.loads(body)["cluster"]["site"] == "lab", body


def issue_token(box, cacert: bool = True) -> subprocess.CompletedProcess:
    """The openstack CLI with the wizard's own clouds.yaml (cacert: egret-ca.crt next to it, run from that
    directory); only auth_url is moved to the forwarded port (the box names itself 10.0.2.15, which its
    certificate also covers, as it covers 127.0.0.1)."""
    doc = yaml.safe_load((box["tmp"] / "wizard-clouds.yaml").read_text())
    cloud = doc["clouds"]["egret"]
    assert cloud["cacert"] == "egret-ca.crt" and cloud["auth"]["auth_url"].startswith("https://10.0.2.15:")
    cloud["auth"]["auth_url"] = f"https://127.0.0.1:{box['fwd'][DEFAULT_PORTS['identity']]}/v3"
    if not cacert:
        cloud.pop("cacert")
    clouds = box["tmp"] / ("clouds.yaml" if cacert else "clouds-no-ca.yaml")
    clouds.write_text(yaml.safe_dump(doc))
    openstack = str(Path(sys.executable).parent / "openstack")
    return subprocess.run([openstack, "--os-cloud", "egret", "token", "issue", "-f", "json"], capture_output=True,
                          text=True, env={"OS_CLIENT_CONFIG_FILE": str(clouds), "PATH": "/usr/bin:/bin"},
                          timeout=180, cwd=box["tmp"])


def test_openstack_cli_issues_token_through_forwarded_port(box):
    out = issue_token(box)
    assert out.returncode == 0, out.stderr
    token = json.loads(out.stdout)
    assert len(token["id"]) > 20 and token["project_id"]
    # without the CA the CLI refuses the box: it really verifies the certificate
    bare = issue_token(box, cacert=False)
    assert bare.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in bare.stderr + bare.stdout, bare.stderr


def test_every_api_serves_the_box_ca_and_refuses_plain_http(box):
    cafile = str(box["tmp"] / "egret-ca.crt")
    for name in box["ports"]:
        if name == "firstboot":
            continue  # the wizard keeps its self-signed certificate (pinned above)
        status, body = get(healthz(box, name), cafile=cafile)  # hostname 127.0.0.1 checked too
        assert status == 200 and json.loads(body)["status"] == "ok", (name, body)
        assert closed(healthz(box, name, scheme="http")), f"{name} answers plain HTTP"


def test_state_survives_reboot(box):
    g = box["guest"]
    first = g.wait_for(r"first-boot note=(\S+) dbs=(\S*)", 600)
    (box["tmp"] / "share" / "reboot").write_text("1")
    # the wizard's role step put the real-time profile into the boot entry: the PREEMPT_RT kernel beside the slot's
    # generic one and the profile's arguments; apply again finds nothing to change, and says a reboot is needed
    entry = g.wait_for(r"realtime-entry linux=(\S*) initrd=(\S*) unit=(\S+)", 300, first.end())
    assert entry.groups() == ("/EFI/egret/a/vmlinuz-rt", "/EFI/egret/a/initrd-rt.img", "active"), entry.group(0)
    applied = json.loads(g.wait_for(r"realtime-apply (\{.*\})", 300, first.end()).group(1))
    assert applied["entries_changed"] == [] and applied["entries_without_rt_kernel"] == [], applied
    assert applied["reboot_needed"] and applied["kernel_args"] == ["hugepagesz=2M", "hugepages=8"], applied
    g.wait_for(r"reboot-requested", 120, first.end())
    # setup stays done: every unit starts by itself, and the boot assessment waits for all of them
    again = g.wait_for(r"EGRET-MARKER healthy uptime=\S+ slot=a units=(\S+) blessed=\S+ setup=(\w+)", 900,
                       first.end())
    # the box founded site "lab": its node agents are expected too
    site_box = box["info"]["units"] + box["info"].get("site_units", [])
    assert sorted(again.group(1).split(",")) == sorted(site_box) and again.group(2) == "done"
    second = g.wait_for(r"second-boot note=(\S+) dbs=(\S*)", 300, again.end())
    assert second.groups() == first.groups()
    # the wizard wrote the box's own /etc: the host name and the management network came back after the reboot
    box_conf = g.wait_for(r"second-boot hostname=(\S*) etc-hostname=(\S*) mgmt=(\S*)", 60, second.end())
    assert box_conf.groups() == ("egret-box", "egret-box", "Address=10.0.2.15/24"), box_conf.group(0)
    # every service's database is on the data partition (none when the image has no database-backed unit)
    assert all(f"{u}.db" in first.group(2) for u in box["info"]["units"] if u in ("identity", "storage")), first.group(0)
    # the box came back on the PREEMPT_RT kernel with the profile's arguments and its huge pages: the profile matches
    rt = g.wait_for(r"second-boot realtime cmdline=(\S*) pages=(\d+) kernel=(\S+) show=(\{.*\})", 120, second.end())
    assert rt.group(1, 2) == ("hugepagesz=2M,hugepages=8,", "8"), rt.group(0)
    assert "-rt-" in rt.group(3) and "PREEMPT_RT" in rt.group(3), rt.group(3)
    shown = json.loads(rt.group(4))
    assert shown["matches"] and not shown["reboot_needed"], shown["findings"]
    for name, port in box["ports"].items():
        assert get(healthz(box, name))[0] == 200, name
    assert json.loads(issue_token(box).stdout)["id"]  # admin, keys, catalog and certificate came back
    # the wizard is closed: it asks for the admin login now (same self-signed certificate after the reboot)
    s, base = wizard_session(box)
    page = s.get(base + "/", timeout=60)
    assert page.url.endswith("/login") and "This box is set up" in page.text
