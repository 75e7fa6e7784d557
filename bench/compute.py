"""Compute bench, servers booted by a project member: POST /servers -> ACTIVE and -> first console line (1 and 5
concurrent, real libvirt/TCG),
next to a bare qemu-system start of the same guest; a Debian cloud-init guest's boot to cloud-init's final stage
under bare qemu (EGRET_BENCH_CLOUD_INIT=0 skips it); server list latency with 200 servers (fake driver);
the compute service's RSS. Prints JSON.

Run as root on a machine with libvirtd available: .venv/bin/python bench/compute.py
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import requests

from appliance.libvirtd import ensure_libvirtd
from appliance.testing.cloud import RunningCloud
from appliance.testing.cloudguest import build_cloud_guest
from appliance.testing.guest import BOOT_MARKER, build_tiny_guest
from services.compute.configdrive import build_config_drive

IMAGES = Path("/var/lib/libvirt/images")


def _bare_one(guest, out: list) -> None:
    cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "256", "-smp", "1", "-nographic",
           "-no-reboot", "-kernel", str(guest.kernel), "-initrd", str(guest.initrd), "-append", guest.cmdline]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    for line in proc.stdout:
        if BOOT_MARKER in line:
            out.append(round(time.monotonic() - t0, 2))
            break
    proc.kill()
    proc.wait()


def bare_qemu(guest, runs=3, concurrent=1) -> list[float]:
    """Seconds from qemu-system start to the boot marker on ttyS0 (the floor for any orchestration)."""
    out: list = []
    for _ in range(runs):
        threads = [threading.Thread(target=_bare_one, args=(guest, out)) for _ in range(concurrent)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return sorted(out)


def cloud_init_bare(runs=1) -> dict:
    """The Debian cloud-init guest under bare qemu with a config drive: seconds to the kernel's first line and to
    cloud-init's final stage ('Cloud-init v. ... finished'), the floor for the e2e cloud-init tests."""
    guest = build_cloud_guest()
    out = {"final_s": [], "first_line_s": [], "errors": []}
    with tempfile.TemporaryDirectory() as tmp:
        inst = types.SimpleNamespace(id="6a9e7d6c-0000-4000-8000-00000000bench", name="bench-ci", hostname="bench-ci",
                                     key_name=None, key_data=None, metadata={}, launch_index=0,
                                     availability_zone="nova", project_id="bench", ports=[], image_ref="",
                                     flavor={"name": "bench"}, reservation_id="r-bench", security_groups=[],
                                     user_data=None)
        iso = Path(tmp) / "config.iso"
        build_config_drive(inst, str(iso))
        for _ in range(runs):
            overlay = Path(tmp) / "disk.qcow2"
            overlay.unlink(missing_ok=True)
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(guest.disk), "-F", "qcow2",
                            str(overlay)], check=True)
            cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", "512", "-smp", "1", "-nographic",
                   "-no-reboot", "-kernel", str(guest.kernel), "-initrd", str(guest.initrd), "-append", guest.cmdline,
                   "-drive", f"file={overlay},if=virtio,format=qcow2",
                   "-drive", f"file={iso},media=cdrom,format=raw,if=none,id=cd",
                   "-device", "ide-cd,drive=cd,bus=ide.0",
                   "-smbios", "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova",
                   "-nic", "none"]
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    errors="replace")
            first = None
            timer = threading.Timer(600, proc.kill)
            timer.start()
            console = []
            for line in proc.stdout:
                console.append(line)
                if os.environ.get("EGRET_BENCH_CONSOLE"):
                    sys.stderr.write(line)
                if first is None:
                    first = time.monotonic() - t0
                if "Cloud-init v." in line and "finished at" in line:
                    out["final_s"].append(round(time.monotonic() - t0, 1))
                    break
                if "Kernel panic" in line:
                    out["errors"].append(line.strip())
            timer.cancel()
            out["first_line_s"].append(round(first or -1, 1))
            proc.kill()
            proc.wait()
    return out


class Api:
    """Nova and Glance over HTTP as `user` (a CloudUser: an ordinary project member) or, without one, the admin."""

    def __init__(self, cloud, user=None):
        token = user.token() if user else cloud.admin_token()
        self.h = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
        self.compute = cloud.url("compute", "/v2.1")
        self.image = cloud.url("image")
        self.s = requests.Session()

    def upload(self, name, path, disk_format, container_format, **props) -> str:
        img = self.s.post(f"{self.image}/v2/images", headers=self.h, json={
            "name": name, "disk_format": disk_format, "container_format": container_format,
            "visibility": "public", **props}, timeout=30).json()
        with open(path, "rb") as fh:
            r = self.s.put(f"{self.image}/v2/images/{img['id']}/file", data=fh, timeout=120,
                           headers={**self.h, "Content-Type": "application/octet-stream"})
        r.raise_for_status()
        return img["id"]

    def create(self, name, image) -> str:
        r = self.s.post(f"{self.compute}/servers", headers=self.h, timeout=30, json={"server": {
            "name": name, "imageRef": image, "flavorRef": "6", "networks": "none"}})
        r.raise_for_status()
        return r.json()["server"]["id"]

    def show(self, sid) -> dict:
        return self.s.get(f"{self.compute}/servers/{sid}", headers=self.h, timeout=30).json()["server"]

    def console(self, sid) -> str:
        r = self.s.post(f"{self.compute}/servers/{sid}/action", headers=self.h, timeout=30,
                        json={"os-getConsoleOutput": {}})
        return r.json().get("output", "") if r.status_code == 200 else ""

    def delete(self, sid) -> None:
        self.s.delete(f"{self.compute}/servers/{sid}", headers=self.h, timeout=30)


def tiny_image(api, guest) -> str:
    k = api.upload("k", guest.kernel, "aki", "aki")
    r = api.upload("r", guest.initrd, "ari", "ari")
    return api.upload("egret-tiny", guest.disk, "qcow2", "bare", kernel_id=k, ramdisk_id=r,
                      os_command_line=guest.cmdline)


def boot_times(cloud, image, count, user) -> dict:
    """Each server in its own thread (its own session), booted by a project member as a user would: POST, then
    poll until ACTIVE, then the console."""
    results = []

    def one(i):
        api = Api(cloud, user)
        t0 = time.monotonic()
        sid = api.create(f"bench-{count}-{i}", image)
        active = marker = None
        while time.monotonic() - t0 < 300:
            if active is None:
                st = api.show(sid)["status"]
                if st == "ACTIVE":
                    active = time.monotonic() - t0
                elif st == "ERROR":
                    break
            if active is not None and BOOT_MARKER in api.console(sid):
                marker = time.monotonic() - t0
                break
            time.sleep(0.2)
        results.append({"active": active, "console": marker, "id": sid})

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    api = Api(cloud, user)
    for r in results:
        api.delete(r["id"])
    for r in results:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and api.s.get(f"{api.compute}/servers/{r['id']}", headers=api.h,
                                                         timeout=30).status_code != 404:
            time.sleep(0.5)
    act = [r["active"] for r in results if r["active"] is not None]
    con = [r["console"] for r in results if r["console"] is not None]
    return {"servers": count, "ok": len(con),
            "to_active_s": {"median": round(statistics.median(act), 2), "max": round(max(act), 2)} if act else None,
            "to_first_console_line_s": {"median": round(statistics.median(con), 2), "max": round(max(con), 2)}
            if con else None}


def compute_rss_mb(cloud) -> float:
    out = subprocess.run([sys.executable, "-m", "appliance.cli", "status", "--json"], env=cloud.env,
                         capture_output=True, text=True).stdout
    master = next(r["pid"] for r in json.loads(out) if r["unit"] == "compute")
    pids = [master] + [int(p) for p in subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)],
                                                      capture_output=True, text=True).stdout.split()]
    total = 0
    for pid in pids:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return round(total / 1024, 1)


def list_latency(state, guest) -> dict:
    """200 servers on the fake driver (no TCG guests), real HTTP, real storage for the image lookups."""
    env = {"EGRET_SERVICE": json.dumps({"compute": {"driver": "fake", "domain_prefix": "egbenchf-"}})}
    cloud = RunningCloud(state, services=["identity", "storage", "compute"], extra_env=env).start(timeout=180)
    try:
        admin = Api(cloud)
        member = cloud.add_user("bench-lister", "bench-list")
        admin.s.put(f"{admin.compute}/os-quota-sets/{member.project_id}", headers=admin.h, timeout=30,
                    json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}}).raise_for_status()
        image = tiny_image(admin, guest)
        api = Api(cloud, member)
        ids = [api.create(f"list-{i}", image) for i in range(200)]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r = api.s.get(f"{api.compute}/servers?status=BUILD", headers=api.h, timeout=30).json()["servers"]
            if not r:
                break
            time.sleep(1)
        timings = {}
        for path in ("/servers", "/servers/detail"):
            samples = []
            for _ in range(20):
                t0 = time.perf_counter()
                resp = api.s.get(api.compute + path, headers=api.h, timeout=60)
                samples.append(time.perf_counter() - t0)
                assert len(resp.json()["servers"]) == 200
            samples.sort()
            timings[path] = {"median_ms": round(statistics.median(samples) * 1000, 1),
                             "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1000, 1)}
        rss = compute_rss_mb(cloud)
        for sid in ids:
            api.delete(sid)
        return {"servers": len(ids), "driver": "fake", "latency": timings, "compute_rss_mb_with_200": rss}
    finally:
        cloud.stop()


def main() -> None:
    ensure_libvirtd()
    guest = build_tiny_guest()
    tag = f"egbench{os.getpid() % 10000}"
    state = IMAGES / tag
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)
    result = {"guest": "debian 6.1 kernel + busybox initramfs, 256 MiB, 1 vCPU"}
    try:
        result["bare_qemu_to_first_console_line_s"] = bare_qemu(guest)
        result["bare_qemu_5_concurrent_to_first_console_line_s"] = bare_qemu(guest, runs=1, concurrent=5)
        if os.environ.get("EGRET_BENCH_CLOUD_INIT", "1") == "1":
            # Debian 12 + cloud-init, 512 MiB, config drive: qemu start -> cloud-init's final stage
            result["cloud_init_guest_bare_qemu"] = cloud_init_bare()
        result["load_average_at_start"] = os.getloadavg()
        env = {"EGRET_SERVICE": json.dumps({"compute": {"domain_prefix": f"{tag}-"}})}
        cloud = RunningCloud(state / "real", services=["identity", "storage", "compute"], extra_env=env)
        (state / "real").mkdir(exist_ok=True)
        (state / "real").chmod(0o755)
        cloud.start(timeout=180)
        try:
            api = Api(cloud)                     # the admin publishes the image and reads the hypervisors
            image = tiny_image(api, guest)
            member = cloud.add_user("bench-booter", "bench")
            boot_times(cloud, image, 1, member)  # warm-up: image cache, libvirt capabilities
            result["domain_type"] = requests.get(f"{api.compute}/os-hypervisors/detail", headers=api.h,
                                                 timeout=30).json()["hypervisors"][0]["hypervisor_type"]
            result["boot_1"] = boot_times(cloud, image, 1, member)
            result["boot_5_concurrent"] = boot_times(cloud, image, 5, member)
            result["compute_rss_mb_idle"] = compute_rss_mb(cloud)
            result["microversion"] = requests.get(api.compute, timeout=10).json()["version"]["version"]
        finally:
            cloud.stop()
        result["server_list_200"] = list_latency(state / "fake", guest)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
