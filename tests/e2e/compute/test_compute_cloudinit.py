"""e2e: a real Debian 12 cloud-init guest gets its hostname, SSH key and user data from the metadata service
and, with the metadata service out of reach, from a config drive; checked over SSH from the outside namespace."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from appliance.testing.cloudguest import build_cloud_guest
from tests.e2e.compute.conftest import services_available, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    "network" not in services_available() or "storage" not in services_available(),
    reason="needs the network and storage services in services/manifest.toml")]

USER_DATA = """\
#cloud-config
write_files:
  - path: /etc/egret-marker
    content: "written-by-cloud-init {marker}\\n"
runcmd:
  - [ sh, -c, "echo runcmd-ran-{marker} > /var/tmp/egret-runcmd" ]
"""


@pytest.fixture(scope="module")
def ci_network(cloud, topology):
    """Its own tenant network behind r1, so these servers' addresses are never reused by the other tests'."""
    cloud.openstack_json("network", "create", "ci-net")
    cloud.openstack_json("subnet", "create", "--network", "ci-net", "--subnet-range", "10.82.0.0/24", "ci-sub")
    cloud.openstack("router", "add", "subnet", "r1", "ci-sub")
    return "ci-net"


@pytest.fixture(scope="module")
def cloud_image(cloud):
    guest = build_cloud_guest()
    js = cloud.openstack_json
    kernel = js("image", "create", "--disk-format", "aki", "--container-format", "aki", "--file", str(guest.kernel),
                "--public", "debian-ci-kernel")
    ramdisk = js("image", "create", "--disk-format", "ari", "--container-format", "ari", "--file",
                 str(guest.initrd), "--public", "debian-ci-ramdisk")
    disk = js("image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--file", str(guest.disk),
              "--public", "--property", f"kernel_id={kernel['id']}", "--property", f"ramdisk_id={ramdisk['id']}",
              "--property", f"os_command_line={guest.cmdline}", "debian-ci", timeout=300)
    js("flavor", "create", "--ram", "512", "--vcpus", "1", "--disk", "0", "ci.small")
    return {"image": disk, "user": guest.user}


def _ssh(ns, key, user, ip, command, timeout=60):
    return subprocess.run(["ip", "netns", "exec", ns, "ssh", "-i", str(key), "-o", "BatchMode=yes",
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"{user}@{ip}", command],
                          capture_output=True, text=True, timeout=timeout)


def _boot(cloud, network, args, name):
    started = time.monotonic()
    server = cloud.openstack_json("server", "create", "--image", "debian-ci", "--flavor", "ci.small", "--network",
                                  network, *args, "--wait", name, timeout=600)
    return server, time.monotonic() - started


def _wait_for_cloud_init(cloud, ns, key, user, ip, name, timeout=600):
    """SSH in as soon as sshd has the key, then wait for cloud-init's final stage; returns `cloud-init status`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = _ssh(ns, key, user, ip, "cloud-init status --wait >/dev/null; cloud-init status --long",
                        timeout=max(30, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            last = exc
            continue
        if last.returncode in (0, 1, 2) and "status:" in last.stdout:
            return last.stdout
        time.sleep(3)
    console = cloud.openstack("console", "log", "show", name, check=False).stdout
    raise AssertionError(f"no SSH to {user}@{ip} with cloud-init done: {last!r}\n--- console ---\n{console[-6000:]}")


def _instance_data(ns, key, user, ip) -> dict:
    out = _ssh(ns, key, user, ip, "sudo cat /run/cloud-init/instance-data-sensitive.json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _boot_to_final(ns, key, user, ip) -> float:
    """Seconds from the guest kernel's boot to the end of cloud-init's final stage (its status.json)."""
    script = ("import json; s=json.load(open('/run/cloud-init/status.json'))['v1']['modules-final']['finished'];"
              "b=[int(l.split()[1]) for l in open('/proc/stat') if l.startswith('btime')][0]; print(s-b)")
    out = _ssh(ns, key, user, ip, f'python3 -c "{script}"')
    assert out.returncode == 0, out.stderr
    return float(out.stdout)


def test_cloud_init_guest_metadata_service_and_config_drive(cloud, topology, ci_network, cloud_image, tmp_path):
    osc, js = cloud.openstack, cloud.openstack_json
    ns, user = topology["ext_ns"], cloud_image["user"]

    # an imported key for the metadata-service guest, a Nova-generated one for the config-drive guest
    key1 = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key1)], check=True)
    js("keypair", "create", "--public-key", f"{key1}.pub", "ci-imported")
    key2 = tmp_path / "id_generated"
    js("keypair", "create", "--private-key", str(key2), "ci-generated")
    key2.chmod(0o600)

    # ssh in, everything out: for the metadata-service guest
    js("security", "group", "create", "ci-ssh")
    js("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "ci-ssh")
    # ssh in, nothing out: the config-drive guest cannot reach 169.254.169.254 (DHCP stays allowed)
    js("security", "group", "create", "ci-ssh-no-egress")
    for rule in js("security", "group", "rule", "list", "ci-ssh-no-egress"):
        if rule["Direction"] == "egress":
            osc("security", "group", "rule", "delete", rule["ID"])
    js("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "ci-ssh-no-egress")

    ud1, ud2 = tmp_path / "ud1.yaml", tmp_path / "ud2.yaml"
    ud1.write_text(USER_DATA.format(marker="md-7f3a"))
    ud2.write_text(USER_DATA.format(marker="cd-91c4"))
    # names that Nova turns into different hostnames (lower case, '_' -> '-')
    name1, name2 = "CI_Meta1", "CI_Drive2"
    with ThreadPoolExecutor(2) as pool:
        f1 = pool.submit(_boot, cloud, ci_network, ["--key-name", "ci-imported", "--user-data", str(ud1),
                                                    "--security-group", "ci-ssh"], name1)
        f2 = pool.submit(_boot, cloud, ci_network, ["--key-name", "ci-generated", "--user-data", str(ud2),
                                                    "--config-drive", "True", "--security-group", "ci-ssh-no-egress"],
                         name2)
        (s1, active1), (s2, _) = f1.result(), f2.result()
    assert s1["status"] == "ACTIVE" and s2["status"] == "ACTIVE"
    hostnames = {}
    for s in (s1, s2):
        shown = js("server", "show", s["id"])
        hostnames[s["id"]] = shown["OS-EXT-SRV-ATTR:hostname"]
    assert hostnames[s1["id"]] == "ci-meta1" and hostnames[s2["id"]] == "ci-drive2"
    fips = {}
    for s in (s1, s2):
        fips[s["id"]] = js("floating", "ip", "create", "public")["floating_ip_address"]
        osc("server", "add", "floating", "ip", s["id"], fips[s["id"]])

    results = {}
    for s, key in ((s1, key1), (s2, key2)):
        ip = fips[s["id"]]
        status = _wait_for_cloud_init(cloud, ns, key, user, ip, s["id"])
        assert re.search(r"^status: done$", status, re.M), status
        results[s["id"]] = (ip, key)

    for s, key, marker, platform, sub in ((s1, key1, "md-7f3a", "openstack", "metadata (http://169.254.169.254"),
                                          (s2, key2, "cd-91c4", "configdrive", "config-disk (/dev/sr0)")):
        ip = fips[s["id"]]
        # the hostname cloud-init set is the one Nova derived from the server's name
        out = _ssh(ns, key, user, ip, "hostname")
        assert out.stdout.strip() == hostnames[s["id"]], out
        # the user data ran: write_files and runcmd
        out = _ssh(ns, key, user, ip, "cat /etc/egret-marker /var/tmp/egret-runcmd")
        assert out.stdout.split("\n")[:2] == [f"written-by-cloud-init {marker}", f"runcmd-ran-{marker}"], out
        # no errors in any stage, and the data came from where it should
        out = _ssh(ns, key, user, ip, "cat /run/cloud-init/result.json")
        result = json.loads(out.stdout)["v1"]
        assert result["errors"] == [], result
        data = _instance_data(ns, key, user, ip)
        assert data["v1"]["platform"] == platform, data["v1"]
        assert data["v1"]["subplatform"].startswith(sub), data["v1"]["subplatform"]
        assert data["v1"]["instance_id"] == s["id"]
        assert data["v1"]["local_hostname"] == hostnames[s["id"]]

    # the metadata-service guest: cloud-init also read the EC2 tree, with the same instance and key
    data = _instance_data(ns, key1, user, fips[s1["id"]])
    ec2 = data["ds"]["ec2_metadata"]
    assert ec2["instance-id"] == s1["id"]
    assert Path(f"{key1}.pub").read_text().split()[1] in json.dumps(ec2.get("public-keys")), ec2
    assert ec2["local-ipv4"] in str(js("server", "show", s1["id"])["addresses"])
    # the config-drive guest really had no metadata service: its egress is closed
    probe = "python3 -c \"import urllib.request as u; u.urlopen('http://169.254.169.254/openstack', timeout=5)\""
    out = _ssh(ns, key2, user, fips[s2["id"]], probe)
    assert out.returncode != 0 and ("timed out" in out.stderr or "URLError" in out.stderr), out
    # and the metadata-service guest can reach it (the same probe succeeds there)
    out = _ssh(ns, key1, user, fips[s1["id"]], probe)
    assert out.returncode == 0, out

    finals = [_boot_to_final(ns, k, user, fips[s["id"]]) for s, k in ((s1, key1), (s2, key2))]
    print(f"\nEGRET-FIGURE cloud-init guests (2 concurrent, load {os.getloadavg()[0]:.1f}): POST->ACTIVE "
          f"{active1:.1f}s; kernel boot->cloud-init final: metadata service {finals[0]:.1f}s, "
          f"config drive {finals[1]:.1f}s")

    for s in (s1, s2):
        osc("server", "remove", "floating", "ip", s["id"], fips[s["id"]])
        osc("floating", "ip", "delete", fips[s["id"]])
        # not `delete --wait`: its 5 s polls reuse keep-alive connections gunicorn may close at that moment
        osc("server", "delete", s["id"])
    assert wait_for(lambda: not {s1["id"], s2["id"]} & {x["ID"] for x in js("server", "list")}, 180, 3)
    assert wait_for(lambda: js("port", "list", "--device-id", s1["id"]) == [], 30)
