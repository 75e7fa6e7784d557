"""One site on one machine: a founder and two members joined for real (join tokens, mTLS heartbeats, each member's
compute and network agents on its own loopback address), used as one cloud by ordinary project members through the
unmodified openstack client. `site`: every driver its fake (agents, APIs, joins and scheduler real) for placement,
20 concurrent creates, node death, evacuation, the stale guest and project isolation, its control plane on
PostgreSQL with --postgres (as make test runs it); `real_site`: libvirt on every node (and the real Linux data
plane: the founder's network service, each member's network agent, each node's VTEP on its own loopback address
and UDP port), a tiny TCG guest booting on each, a dead member's guest rebuilt and booted elsewhere, a member's
guest using a volume on the founder's disk over iSCSI (the founder's tgtd; the guest's QEMU logs in with its node's
initiator name and CHAP), and guest traffic across nodes: a member's guest gets its DHCP lease and metadata from
the founder over VXLAN, pings a guest on the founder both ways, and is reached through a floating IP from the
external network (the founder's upstream bridge, in a namespace of its own)."""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import libvirt
import libvirt_qemu
import pytest
import requests

from appliance import config, pki
from appliance.cluster import membership
from appliance.testing.cloud import assert_cli_refused
from appliance.testing.guest import BOOT_MARKER
from appliance.testing.plugin import free_port
from appliance.testing.libvirtd import IMAGES, libvirtd, run_prefix, tiny_guest  # noqa: F401
from appliance.testing.site import NODE_UNITS, Site
from services.compute.drivers import base
from services.compute.drivers.remote import RemoteDriver
from services.network.conf import section
from services.network.drivers import names

pytestmark = pytest.mark.integration
INTERVAL = 1.0
# tgtd's control socket /var/run/tgtd/socket.<n>: apart from a system tgtd (0) and other tests'
QEMU_LOGS = Path("/var/log/libvirt/qemu")
ISCSI_CONTROL_PORT = 731
BIG_RAM = 100_000        # MB: three fit a fake node (262144 MB x ram_allocation_ratio 1.5), a fourth does not


def _control_plane_postgres(request) -> str:
    """With --postgres (as make test runs) the site's control plane keeps its state in PostgreSQL, as a founded
    site does; otherwise in the founder's SQLite."""
    return request.getfixturevalue("postgres_url") if request.config.getoption("--postgres") else ""


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    s = Site(tmp_path_factory.mktemp("site"), interval=INTERVAL, postgres=_control_plane_postgres(request))
    try:
        s.start()
        admin = s.founder
        image = tmp_path_factory.mktemp("img") / "tiny.raw"
        image.write_bytes(b"\0" * (1 << 20))
        admin.openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", "--public",
                        "--file", str(image), "tiny")
        admin.openstack("flavor", "create", "--ram", "256", "--vcpus", "1", "--disk", "1", "site.small")
        admin.openstack("flavor", "create", "--ram", str(BIG_RAM), "--vcpus", "1", "--disk", "0", "site.big")
        users = {"alice": admin.add_user("alice", "proj-a"), "bob": admin.add_user("bob", "proj-b")}
        admin.openstack("quota", "set", "--instances", "50", "--cores", "100", "--ram", str(30 * BIG_RAM), "proj-a")
        alice = users["alice"]
        net = alice.openstack_json("network", "create", "net-a")["id"]
        alice.openstack("subnet", "create", "--network", net, "--subnet-range", "10.60.0.0/24", "sub-a")
        yield s, users, net
    finally:
        s.stop()


def _server(cloud, server_id: str) -> dict:
    return cloud.openstack_json("server", "show", server_id)


def _wait_status(site, server_id: str, status: str = "ACTIVE", timeout: float = 60) -> dict:
    shown = site.wait(lambda: (lambda s: s if s["status"] in (status, "ERROR") else None)(
        _server(site.founder, server_id)), timeout=timeout, step=0.5)
    assert shown and shown["status"] == status, (shown, site.founder.logs())
    return shown


def _rest(site, token: str, method: str, path: str, **kw) -> requests.Response:
    return requests.request(method, site.founder.url("compute", "/v2.1" + path), timeout=30, **kw,
                            headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"})


def _founder_node(site) -> str:
    return next(n for n in site.hypervisors() if n not in site.members)


@pytest.fixture(scope="module")
def spread(site):
    """alice's anti-affinity group of three: one server on every node."""
    s, users, net = site
    alice = users["alice"]
    group = alice.openstack_json("server", "group", "create", "--policy", "anti-affinity", "spread")["id"]
    ids = [alice.openstack_json("server", "create", "--image", "tiny", "--flavor", "site.small", "--network", net,
                                "--hint", f"group={group}", f"web-{i}")["id"] for i in range(3)]
    hosts = {_wait_status(s, i)["OS-EXT-SRV-ATTR:host"]: i for i in ids}
    return hosts


def test_servers_land_on_every_node(site, spread):
    s, _, _ = site
    assert set(spread) == {_founder_node(s), *s.members}, spread
    # each member's server really runs on that member, through its own agent
    for name in s.members:
        agent = RemoteDriver.for_node(s.settings, name, s.addresses[name])
        domains = agent.list_domains()
        assert any(spread[name] in d or d.startswith(f"egret-{name}-") for d in domains), (name, domains)


def test_twenty_concurrent_creates_never_overcommit(site, spread):
    s, users, _ = site
    alice = users["alice"]
    token, admin = alice.token(), s.founder.admin_token()     # the admin sees each server's host
    flavor = s.founder.openstack_json("flavor", "show", "site.big")["id"]
    image = s.founder.openstack_json("image", "show", "tiny")["id"]
    url = s.founder.url("compute", "/v2.1/servers")
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}

    def create(i):
        body = {"server": {"name": f"big-{i}", "imageRef": image, "flavorRef": flavor, "networks": "none"}}
        resp = requests.post(url, json=body, headers=headers, timeout=60)
        assert resp.status_code == 202, resp.text
        return resp.json()["server"]["id"]

    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(create, range(20)))
    final = {}
    for i in ids:
        final[i] = s.wait(lambda: (lambda x: x if x["status"] in ("ACTIVE", "ERROR") else None)(
            _rest(s, admin, "GET", f"/servers/{i}").json()["server"]), timeout=90, step=0.5)
    active = [x for x in final.values() if x["status"] == "ACTIVE"]
    per_node: dict[str, int] = {}
    for x in active:
        per_node[x["OS-EXT-SRV-ATTR:host"]] = per_node.get(x["OS-EXT-SRV-ATTR:host"], 0) + 1
    # three fit each of the three nodes beside the small servers; the other eleven find no valid host
    assert len(active) == 9 and set(per_node.values()) == {3}, per_node
    for name, hyp in s.hypervisors().items():
        assert hyp["memory_mb_used"] <= hyp["memory_mb"] * 1.5, (name, hyp)
    errors = [x for x in final.values() if x["status"] == "ERROR"]
    assert len(errors) == 11 and all("No valid host" in json.dumps(x.get("fault", {})) for x in errors), errors[:1]
    for i in ids:
        assert _rest(s, token, "DELETE", f"/servers/{i}").status_code == 204
    assert s.wait(lambda: not [i for i in ids if _rest(s, token, "GET", f"/servers/{i}").status_code != 404])


def test_another_project_cannot_see_or_touch_servers_on_any_node(site, spread):
    s, users, _ = site
    bob = users["bob"]
    assert bob.openstack_json("server", "list") == []
    for node, server_id in spread.items():
        assert_cli_refused(bob.openstack("server", "show", server_id, check=False), "No Server found", "404")
        assert_cli_refused(bob.openstack("server", "delete", server_id, check=False), "No Server found", "404")
        assert _server(s.founder, server_id)["status"] == "ACTIVE", node


class Heartbeats:
    """A node's cluster unit as the founder sees it: a heartbeat with the node's certificate every half interval."""

    def __init__(self, site, name):
        box = site.members[name]
        node_settings = config.load(env=box.env)
        self.url = f"https://127.0.0.1:{site.founder.ports['cluster']}/v1/cluster/heartbeat"
        self.ca_pem, self.cert = membership.site_ca_pem(node_settings), membership.node_certificate(node_settings)
        self.running, self.thread = threading.Event(), None

    def __enter__(self):
        self.running.set()
        self.thread = threading.Thread(target=self._beat, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running.clear()
        self.thread.join()

    def _beat(self):
        while self.running.is_set():
            try:
                pki.request("POST", self.url, ca_pem=self.ca_pem, cert=self.cert,
                            body={"health": {"compute-agent": True}})
            except pki.PeerError:
                pass
            time.sleep(INTERVAL / 2)


def test_a_dead_member_goes_down_its_server_is_evacuated_and_its_stale_guest_destroyed(site, spread):
    s, users, net = site
    alice, admin = users["alice"], s.founder
    victim = spread["beta"]
    before = _server(admin, victim)
    # the box dies: its units stop, and its (in-memory, fake) guests are gone with it
    s.members["beta"].stop()
    died = time.time()
    assert s.wait(lambda: s.hypervisors()["beta"]["state"] == "down", timeout=20), s.hypervisors()
    took = time.time() - died
    # the bound: 3 missed intervals + 1 round of the registry, plus a heartbeat just before the death and slack
    assert took <= 4 * INTERVAL + 2.5, took
    # (its agent refusing connections makes the registry call it down at its next round, before the heartbeats lapse)
    print(f"\nmember down {took:.1f} s after it died (heartbeat interval {INTERVAL} s; bound {4 * INTERVAL:.0f} s)")

    # creates still succeed, on the nodes that are up
    extra = alice.openstack_json("server", "create", "--image", "tiny", "--flavor", "site.small", "--network", net,
                                 "after-death")["id"]
    assert _wait_status(s, extra)["OS-EXT-SRV-ATTR:host"] != "beta"

    # the admin evacuates the dead node's server: rebuilt elsewhere with the same addresses
    evacuate = ("--os-compute-api-version", "2.29", "server", "evacuate", victim)
    # its group keeps one server per node: with the other two nodes taken, there is nowhere to rebuild it (as Nova)
    assert_cli_refused(admin.openstack(*evacuate, check=False), "ServerGroupAntiAffinityFilter")
    alice.openstack("server", "delete", "--wait", spread["gamma"])
    t = time.time()
    admin.openstack(*evacuate)
    moved = _wait_status(s, victim)
    print(f"evacuated server ACTIVE on {moved['OS-EXT-SRV-ATTR:host']} {time.time() - t:.1f} s after evacuate")
    assert moved["OS-EXT-SRV-ATTR:host"] == "gamma" and moved["addresses"] == before["addresses"], (moved, before)
    # beta's own guest of it was named after beta's prefix; the rebuilt one after gamma's
    domain = before["OS-EXT-SRV-ATTR:instance_name"]
    assert domain.startswith("egret-beta-") and moved["OS-EXT-SRV-ATTR:instance_name"].startswith("egret-gamma-")

    # beta comes back having kept the guest (its agent first, the guest recreated, then its heartbeats): the sweep
    # destroys the stale guest through beta's agent before beta is `up` again, so the server never runs twice
    beta = s.members["beta"]
    beta.services = ["compute-agent"]
    beta.start()
    agent = RemoteDriver.for_node(s.settings, "beta", s.addresses["beta"])
    agent.spawn(base.GuestSpec(name=domain, uuid=victim, vcpus=1, memory_mb=256,
                               disks=[base.DiskSpec(path="/nowhere/disk", target="vda")], vifs=[]))
    assert domain in agent.list_domains()
    with Heartbeats(s, "beta"):
        assert s.wait(lambda: domain not in agent.list_domains(), timeout=20), (agent.list_domains(),
                                                                                 admin.logs())
        assert s.wait(lambda: s.hypervisors()["beta"]["state"] == "up", timeout=20)
    assert _server(admin, victim)["status"] == "ACTIVE"
    # and the box restarted whole (its cluster unit too) is a node again
    beta.stop()
    beta.services = list(NODE_UNITS)
    beta.start()
    assert s.wait(lambda: s.hypervisors()["beta"]["state"] == "up", timeout=30), s.hypervisors()


@pytest.fixture(scope="module")
def real_site(libvirtd, tiny_guest, run_prefix):  # noqa: F811
    """The same site with the real drivers: libvirt on every node (the members' through their agents, each its own
    domain prefix and instances dir on this machine's libvirtd), and the Linux data plane on every node (the
    members' through their network agents; node tags keep the links apart, each VTEP has its own address and
    port)."""
    root = IMAGES / f"egret-site-{run_prefix}"       # libvirt's qemu user must reach the disks: not pytest's 0700
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    # the founder's storage exports volumes to the members over iSCSI: its own tgtd, on a free port
    iscsi = (f"cleanup_on_exit = true\n[service.storage]\niscsi_portal = \"127.0.0.1:{free_port()}\"\n"
             f"iscsi_control_port = {ISCSI_CONTROL_PORT}\n")
    s = Site(root, interval=INTERVAL, fake=False, prefix=f"{run_prefix}", extra=iscsi)
    try:
        s.start()
        admin = s.founder
        kernel = admin.openstack_json("image", "create", "--disk-format", "aki", "--container-format", "aki",
                                      "--file", str(tiny_guest.kernel), "--public", "tiny-kernel")["id"]
        ramdisk = admin.openstack_json("image", "create", "--disk-format", "ari", "--container-format", "ari",
                                       "--file", str(tiny_guest.initrd), "--public", "tiny-ramdisk")["id"]
        admin.openstack("image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--public",
                        "--file", str(tiny_guest.disk), "--property", f"kernel_id={kernel}",
                        "--property", f"ramdisk_id={ramdisk}", "--property", "os_command_line=console=ttyS0 panic=-1 quiet",
                        "egret-tiny")
        admin.openstack("flavor", "create", "--ram", "128", "--vcpus", "1", "--disk", "1", "tiny.nano")
        yield s
    finally:
        try:
            for server in s.founder.openstack_json("server", "list", "--all-projects"):
                s.founder.openstack("server", "delete", "--wait", server["ID"], check=False)
        finally:
            s.stop()
            shutil.rmtree(root, ignore_errors=True)


def test_real_guests_boot_on_every_node(real_site):
    s = real_site
    nodes = [_founder_node(s), *s.members]
    ids = {node: s.founder.openstack_json("server", "create", "--image", "egret-tiny", "--flavor", "tiny.nano",
                                          "--nic", "none", "--availability-zone", f"nova:{node}",
                                          f"tiny-{node}")["id"] for node in nodes}
    for node, server_id in ids.items():
        shown = _wait_status(s, server_id, timeout=180)
        assert shown["OS-EXT-SRV-ATTR:host"] == node, shown
        booted = s.wait(lambda: BOOT_MARKER in s.founder.openstack("console", "log", "show", server_id).stdout,
                        timeout=240, step=3)
        assert booted, (node, s.founder.openstack("console", "log", "show", server_id).stdout[-2000:])


def test_a_real_guest_of_a_dead_member_is_evacuated_and_boots_elsewhere(real_site, run_prefix):  # noqa: F811
    s = real_site
    victim = s.founder.openstack_json("server", "list", "--name", "tiny-beta")[0]["ID"]
    before = _server(s.founder, victim)
    assert before["OS-EXT-SRV-ATTR:host"] == "beta"
    # the box dies: its units stop and its guests go with it (libvirtd here is shared, so they are destroyed)
    s.members["beta"].stop()
    conn = libvirt.open("qemu:///system")
    try:
        for dom in conn.listAllDomains():
            if dom.name().startswith(f"{run_prefix}beta-"):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
    finally:
        conn.close()
    assert s.wait(lambda: s.hypervisors()["beta"]["state"] == "down", timeout=4 * INTERVAL + 5), s.hypervisors()
    s.founder.openstack("--os-compute-api-version", "2.29", "server", "evacuate", victim)
    moved = _wait_status(s, victim, timeout=180)
    assert moved["OS-EXT-SRV-ATTR:host"] not in ("beta", None), moved
    booted = s.wait(lambda: BOOT_MARKER in s.founder.openstack("console", "log", "show", victim).stdout,
                    timeout=240, step=3)
    assert booted, s.founder.openstack("console", "log", "show", victim).stdout[-2000:]
    # the box comes back: a node again, and nothing of the server runs on it
    s.members["beta"].start()
    assert s.wait(lambda: s.hypervisors()["beta"]["state"] == "up", timeout=30), s.hypervisors()
    agent = RemoteDriver.for_node(s.settings, "beta", s.addresses["beta"])
    assert not [d for d in agent.list_domains() if victim in d]


def _qemu_io(dom, disk_alias: str, command: str) -> str:
    """A qemu-io command on a running guest's disk, through its QEMU monitor: what the guest's block device reads
    and writes, here over the guest's iSCSI connection. QEMU prints qemu-io's answer on its own stdout, which
    libvirt keeps in the domain's log, not on the monitor."""
    log = QEMU_LOGS / f"{dom.name()}.log"
    start = log.stat().st_size
    # a virtio-blk disk's block backend is its inner virtio device's (QEMU 7.2: "Device does not have a block
    # device backend" for the PCI device's own id)
    answer = libvirt_qemu.qemuMonitorCommand(dom, f'qemu-io -d {disk_alias}/virtio-backend "{command}"',
                                             libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
    assert answer == "", answer          # the monitor only speaks when the command itself is wrong
    deadline = time.time() + 10
    while True:
        with log.open() as f:
            f.seek(start)
            printed = f.read()
        if " ops; " in printed or time.time() > deadline:   # qemu-io's last line: "64 KiB, 1 ops; ..."
            return printed
        time.sleep(0.1)


def _volume_file(s, volume_id: str) -> Path:
    found = list(s.founder.state_dir.rglob(f"volume-{volume_id}.qcow2"))
    assert len(found) == 1, found
    return found[0]


def test_a_guest_on_a_member_uses_a_volume_on_the_founder_over_iscsi(real_site, run_prefix):  # noqa: F811
    """An ordinary member attaches a volume (a file on the founder's disk) to their server on beta: beta's QEMU logs
    in to the founder's target with its initiator name and CHAP, reads what was on the volume and writes to it; the
    detach takes the target away, and what the guest wrote is in the volume's file."""
    s, admin = real_site, real_site.founder
    dave = admin.add_user("dave", "proj-d")
    vol = dave.openstack_json("volume", "create", "--size", "1", "vol-d")["id"]
    assert s.wait(lambda: dave.openstack_json("volume", "show", vol)["status"] == "available", timeout=60)
    path = _volume_file(s, vol)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 65536", str(path)], check=True,
                   capture_output=True)
    _only(s, "beta")
    try:
        server = dave.openstack_json("server", "create", "--image", "egret-tiny", "--flavor", "tiny.nano",
                                     "--nic", "none", "vm-d")["id"]
        assert _wait_status(s, server, timeout=240)["OS-EXT-SRV-ATTR:host"] == "beta"
    finally:
        _only(s, None)
    t = time.time()
    dave.openstack("server", "add", "volume", server, vol)
    assert s.wait(lambda: dave.openstack_json("volume", "show", vol)["status"] == "in-use", timeout=60)
    print(f"\nvolume on alpha attached to a server on beta over iSCSI in {time.time() - t:.1f} s")
    attachment = admin.openstack_json("--os-volume-api-version", "3.27", "volume", "attachment", "list",
                                      "--all-projects", "--volume-id", vol)[0]
    target = f"iqn.2026-12.dev.egret:attachment-{attachment['ID']}"
    shown = subprocess.run(["tgtadm", "-C", str(ISCSI_CONTROL_PORT), "--lld", "iscsi", "--mode", "target",
                            "--op", "show"], check=True, capture_output=True, text=True).stdout
    assert target in shown and str(path) in shown, shown

    conn = libvirt.open("qemu:///system")
    try:
        dom = conn.lookupByName(f"{run_prefix}beta-{server}")
        tree = ET.fromstring(dom.XMLDesc(0))
        disks = [d for d in tree.findall("./devices/disk") if d.get("type") == "network"]
        assert len(disks) == 1, dom.XMLDesc(0)
        source = disks[0].find("source")
        assert source.get("protocol") == "iscsi" and source.get("name") == f"{target}/1", dom.XMLDesc(0)
        assert source.find("auth/secret").get("usage"), dom.XMLDesc(0)
        alias = disks[0].find("alias").get("name")
        # the guest's QEMU reads the volume through the target and writes to it
        assert "read 65536/65536 bytes" in _qemu_io(dom, alias, "read -P 0xab 0 65536")
        assert "Pattern verification failed" in _qemu_io(dom, alias, "read -P 0xcd 0 65536")
        assert "wrote 65536/65536 bytes" in _qemu_io(dom, alias, "write -P 0xcd 1048576 65536")
        dave.openstack("server", "remove", "volume", server, vol)
        assert s.wait(lambda: dave.openstack_json("volume", "show", vol)["status"] == "available", timeout=60)
        assert not [d for d in ET.fromstring(dom.XMLDesc(0)).findall("./devices/disk") if d.get("type") == "network"]
        secrets = [sec.usageID() for sec in conn.listAllSecrets()]
        assert not [u for u in secrets if target in u], secrets
    finally:
        conn.close()
    shown = subprocess.run(["tgtadm", "-C", str(ISCSI_CONTROL_PORT), "--lld", "iscsi", "--mode", "target",
                            "--op", "show"], check=True, capture_output=True, text=True).stdout
    assert target not in shown, shown
    read = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "read -P 0xcd 1048576 65536", str(path)],
                          capture_output=True, text=True)
    assert "read 65536/65536 bytes" in read.stdout, read.stdout + read.stderr
    checked = subprocess.run(["qemu-img", "check", "-f", "qcow2", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    dave.openstack("server", "delete", "--wait", server)


# the marker is spelled at run time: the guest prints its user-data (this script) on the console too
PING = """#!/bin/sh
i=0; r=failed
while [ $i -lt 240 ]; do
  if ping -c 1 -W 2 {peer} >/dev/null 2>&1; then r=ok; break; fi
  i=$((i+1)); sleep 1
done
echo "EGRET-PING-$r {me}->{peer} after $i tries"
"""


def _console(s, server_id: str) -> str:
    return s.founder.openstack("console", "log", "show", server_id).stdout


def _only(s, node: str | None) -> None:
    """The admin's setup: every compute node but `node` disabled (None: all enabled again), so an ordinary
    member's next create lands there."""
    for host in s.hypervisors():
        on = node is None or host == node
        s.founder.openstack("compute", "service", "set", "--enable" if on else "--disable", host, "nova-compute")


def _wait_console(s, server_id: str, *needles: str, timeout: float = 300) -> str | None:
    """The console log once it shows any of `needles`."""
    def seen():
        text = _console(s, server_id)
        return text if any(n in text for n in needles) else None
    return s.wait(seen, timeout=timeout, step=3)


def test_guests_on_two_nodes_talk_over_vxlan_and_a_floating_ip_reaches_the_members(real_site, tmp_path):
    s, admin = real_site, real_site.founder
    # the earlier tests' guests go: fewer TCG guests on a small machine
    for server in admin.openstack_json("server", "list", "--all-projects"):
        admin.openstack("server", "delete", "--wait", server["ID"])
    carol = admin.add_user("carol", "proj-c")
    net = carol.openstack_json("network", "create", "net-c")["id"]
    carol.openstack("subnet", "create", "--network", net, "--subnet-range", "10.61.0.0/24", "sub-c")
    for rule in (("--protocol", "icmp"), ("--protocol", "tcp", "--dst-port", "80")):
        carol.openstack("security", "group", "rule", "create", *rule, "default")
    addr = {"a": "10.61.0.11", "b": "10.61.0.12"}
    ports = {k: carol.openstack_json("port", "create", "--network", net, "--fixed-ip",
                                     f"subnet=sub-c,ip-address={ip}", f"port-{k}")["id"] for k, ip in addr.items()}
    founder, member = _founder_node(s), "beta"
    ids, started = {}, {}
    try:
        for key, node in (("a", founder), ("b", member)):
            script = tmp_path / f"{key}.sh"
            script.write_text(PING.format(me=key, peer=addr["b" if key == "a" else "a"]))
            _only(s, node)
            started[key] = time.time()
            ids[key] = carol.openstack_json("server", "create", "--image", "egret-tiny", "--flavor", "tiny.nano",
                                            "--port", ports[key], "--user-data", str(script), f"vm-{key}")["id"]
            assert _wait_status(s, ids[key], timeout=240)["OS-EXT-SRV-ATTR:host"] == node
    finally:
        _only(s, None)

    # B, on the member, got its lease from the founder's dnsmasq over VXLAN, then its metadata
    text = _wait_console(s, ids["b"], f"EGRET-LEASE ip={addr['b']}")
    assert text, _console(s, ids["b"])[-3000:]
    print(f"\nmember guest leased {addr['b']} {time.time() - started['b']:.0f} s after its create")
    text = _wait_console(s, ids["b"], "EGRET-METADATA-END", timeout=120)
    assert text and ids["b"] in text.split("EGRET-METADATA-BEGIN", 1)[1], _console(s, ids["b"])[-3000:]
    # both guests' user-data scripts ping the other across nodes
    for key in ("b", "a"):
        text = _wait_console(s, ids[key], "EGRET-PING-ok", "EGRET-PING-failed", timeout=300)
        assert text and f"EGRET-PING-ok {key}->" in text, (key, (text or _console(s, ids[key]))[-3000:])
        print(f"{key} pinged its peer {time.time() - started['b']:.0f} s after B's create: "
              f"{text.split('EGRET-PING-ok ', 1)[1].splitlines()[0]}")

    # a router on the founder with the external network as gateway, a floating IP on the member's guest
    admin.openstack("network", "create", "--external", "--provider-network-type", "flat",
                    "--provider-physical-network", "public", "public")
    admin.openstack("subnet", "create", "--network", "public", "--subnet-range", "203.0.113.0/24", "--no-dhcp",
                    "--gateway", "203.0.113.1", "--allocation-pool", "start=203.0.113.10,end=203.0.113.50",
                    "public-sub")
    carol.openstack("router", "create", "r-c")
    carol.openstack("router", "add", "subnet", "r-c", "sub-c")
    carol.openstack("router", "set", "--external-gateway", "public", "r-c")
    fip = carol.openstack_json("floating", "ip", "create", "public")["floating_ip_address"]
    t = time.time()
    carol.openstack("server", "add", "floating", "ip", ids["b"], fip)
    outside = names.ext_netns(section(s.settings)["prefix"])

    def get():
        out = subprocess.run(["ip", "netns", "exec", outside, "timeout", "10", "busybox", "wget", "-q", "-O", "-",
                              f"http://{fip}/"], check=False, capture_output=True, text=True)
        return "egret-guest-ok" in out.stdout

    assert s.wait(get, timeout=180, step=2), (fip, outside, admin.logs()[-3000:])
    print(f"floating IP {fip} of the member's guest answered HTTP {time.time() - t:.1f} s after it was added")
