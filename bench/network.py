"""Network bench: API+data-plane setup time, port-to-reachable time, concurrent port creation, throughput
(veth / bridge / router NAT), RSS.

Runs a real `egret up` (identity + network) on free ports, drives it over HTTP, uses namespaces as VMs,
and prints one JSON document. Needs root. Throughput is a plain Python socket pump (no iperf3 here).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from appliance.config import Settings  # noqa: E402
from appliance.testing.cloud import RunningCloud  # noqa: E402
from bench.stats import ms  # noqa: E402
from services.network.conf import section  # noqa: E402

HOOK = """#!/bin/sh
case "$1" in
  deconfig) ip link set $interface up ;;
  bound|renew) ip addr add $ip/${mask:-24} dev $interface
    set -- $staticroutes; while [ $# -ge 2 ]; do ip route replace $1 via $2 dev $interface; shift 2; done ;;
esac
"""


def sh(*cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{cmd}: {proc.stderr}")
    return proc.stdout


def pump(src_ns, dst_ns, dst_ip, port, seconds=2.0) -> float:
    """Mbit/s received by a sink in dst_ns from a sender in src_ns."""
    sink = subprocess.Popen(["ip", "netns", "exec", dst_ns, sys.executable, "-c",
                             "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                             f"s.bind(('0.0.0.0',{port}));s.listen(1);print('ready',flush=True);c,_=s.accept()\n"
                             "n=0;t=time.time()\nwhile True:\n d=c.recv(1<<18)\n if not d: break\n n+=len(d)\n"
                             "print(n/(time.time()-t),flush=True)"], stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    sh("ip", "netns", "exec", src_ns, sys.executable, "-c",
       f"import socket,time;s=socket.create_connection(('{dst_ip}',{port}));s.settimeout(5);b=b'x'*262144\n"
       f"t=time.time()\ntry:\n while time.time()-t<{seconds}: s.sendall(b)\nexcept OSError: pass\ns.close()")
    rate = float(sink.stdout.readline())
    sink.wait()
    return round(rate * 8 / 1e6, 1)


def rss_kb(state_dir: Path) -> int:
    state = json.loads((state_dir / "run" / "supervisor.json").read_text())
    master = state["units"]["network"]["pid"]
    pids = [master] + [int(p) for p in sh("pgrep", "-P", str(master), check=False).split()]
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def create_ports_concurrently(http, base, network_id, clients=8, per_client=5) -> dict:
    """`clients` threads each POST `per_client` ports at once (as compute does for servers booted together)
    and delete them: latency, rate and how many requests failed (SQLite write-lock contention shows here)."""
    def one(_):
        t0 = time.perf_counter()
        resp = http.post(base + "/ports", json={"port": {"network_id": network_id}})
        return time.perf_counter() - t0, resp

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(clients * per_client)))
    wall = time.perf_counter() - t0
    for _, resp in results:
        if resp.ok:
            http.delete(f"{base}/ports/{resp.json()['port']['id']}")
    return {"clients": clients, "failed": sum(not r.ok for _, r in results),
            "ports_per_s": round(len(results) / wall, 1), **ms(t for t, _ in results)}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="egret-netbench-"))
    extra = {"EGRET_SERVICE": json.dumps({"network": {"cleanup_on_exit": True, "port_poll_interval": 1}})}
    cloud = RunningCloud(tmp / "state", services=["identity", "network"], extra_env=extra).start()
    vms = []
    try:
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": cloud.password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        token = requests.post(cloud.url("identity", "/v3/auth/tokens"), json=auth).headers["X-Subject-Token"]
        http = requests.Session()
        http.headers["X-Auth-Token"] = token
        base = cloud.url("network", "/v2.0")

        def call(method, path, body=None):
            resp = http.request(method, base + path, json=body)
            resp.raise_for_status()
            return resp.json() if resp.content else None

        prefix = section(Settings(state_dir=cloud.state_dir))["prefix"]
        ext_ns = f"{prefix}-ext"
        public = call("POST", "/networks", {"network": {"name": "public", "router:external": True,
                                                        "provider:network_type": "flat",
                                                        "provider:physical_network": "public"}})["network"]
        call("POST", "/subnets", {"subnet": {"network_id": public["id"], "cidr": "203.0.113.0/24",
                                             "gateway_ip": "203.0.113.1", "enable_dhcp": False,
                                             "allocation_pools": [{"start": "203.0.113.10",
                                                                   "end": "203.0.113.200"}]}})
        setup = []
        for i in range(3):
            t0 = time.perf_counter()
            net = call("POST", "/networks", {"network": {"name": f"n{i}"}})["network"]
            sub = call("POST", "/subnets", {"subnet": {"network_id": net["id"], "cidr": f"10.9{i}.0.0/24",
                                                       "ip_version": 4}})["subnet"]
            router = call("POST", "/routers", {"router": {"name": f"r{i}", "external_gateway_info": {
                "network_id": public["id"]}}})["router"]
            call("PUT", f"/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
            fip = call("POST", "/floatingips", {"floatingip": {"floating_network_id": public["id"]}})["floatingip"]
            setup.append(time.perf_counter() - t0)
        hook = tmp / "hook.sh"
        hook.write_text(HOOK)
        hook.chmod(0o755)
        sg = call("GET", "/security-groups?name=default")["security_groups"][0]
        call("POST", "/security-group-rules", {"security_group_rule": {
            "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "remote_ip_prefix": "0.0.0.0/0"}})

        reach, active = [], []
        for i in range(3):
            t0 = time.perf_counter()
            port = call("POST", "/ports", {"port": {"network_id": net["id"], "device_id": f"vm{i}",
                                                    "device_owner": "compute:nova"}})["port"]
            name, tap = f"{prefix}b{i}", "tap" + port["id"][:11]
            vms.append((name, tap))
            sh("ip", "netns", "add", name)
            sh("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", name)
            sh("ip", "-n", name, "link", "set", "eth0", "address", port["mac_address"])
            sh("ip", "-n", name, "link", "set", "eth0", "up")
            sh("ip", "link", "set", tap, "master", "brq" + net["id"][:11], "up")
            sh("ip", "netns", "exec", name, "busybox", "udhcpc", "-O", "staticroutes", "-i", "eth0", "-n", "-q",
               "-t", "10", "-T", "1", "-s", str(hook))
            deadline = time.time() + 30
            while subprocess.run(["ip", "netns", "exec", name, "ping", "-c", "1", "-W", "1", sub["gateway_ip"]],
                                 capture_output=True).returncode != 0:
                if time.time() > deadline:
                    raise RuntimeError(f"{name} never reached its gateway")
            reach.append(time.perf_counter() - t0)
            while call("GET", f"/ports/{port['id']}")["port"]["status"] != "ACTIVE":
                if time.time() > deadline:
                    raise RuntimeError(f"port {port['id']} never became ACTIVE")
                time.sleep(0.1)
            active.append(time.perf_counter() - t0)
        concurrent_create = create_ports_concurrently(http, base, net["id"])
        ip = {n: sh("ip", "-n", n, "-4", "-o", "addr", "show", "eth0").split()[3].split("/")[0] for n, _ in vms}
        call("PUT", f"/floatingips/{fip['id']}", {"floatingip": {"port_id": port["id"]}})

        # the limit: a plain veth pair between two namespaces, measured in the same run
        sh("ip", "netns", "add", f"{prefix}pa")
        sh("ip", "netns", "add", f"{prefix}pb")
        vms += [(f"{prefix}pa", None), (f"{prefix}pb", None)]
        sh("ip", "-n", f"{prefix}pa", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
           f"{prefix}pb")
        for n, addr in ((f"{prefix}pa", "192.0.2.1/24"), (f"{prefix}pb", "192.0.2.2/24")):
            sh("ip", "-n", n, "addr", "add", addr, "dev", "eth0")
            sh("ip", "-n", n, "link", "set", "eth0", "up")
        a, b = vms[0][0], vms[1][0]
        result = {
            "setup_network_subnet_router_fip_s": {"median": round(statistics.median(setup), 3),
                                                  "runs": [round(x, 3) for x in setup]},
            "port_reachable_s": {"median": round(statistics.median(reach), 3), "runs": [round(x, 3) for x in reach],
                                 "what": "POST /ports -> tap plugged -> DHCP lease -> ping gateway"},
            "port_active_s": {"median": round(statistics.median(active), 3),
                              "what": "until GET /ports shows ACTIVE (taps polled every 1 s)"},
            "concurrent_port_create": concurrent_create,
            "throughput_mbit_s": {
                "plain_veth": pump(f"{prefix}pa", f"{prefix}pb", "192.0.2.2", 6001),
                "bridge_vm_to_vm_with_sg": pump(a, b, ip[b], 6002),
                "router_snat_vm_to_outside": pump(vms[2][0], ext_ns, "203.0.113.1", 6003),
                "router_dnat_outside_to_fip": pump(ext_ns, vms[2][0], fip["floating_ip_address"], 6004),
            },
            "network_service_rss_kb": rss_kb(cloud.state_dir),
            "cpu_count": os.cpu_count(),
        }
        print(json.dumps(result, indent=1))
    finally:
        for name, tap in vms:
            if tap:
                subprocess.run(["ip", "link", "del", tap], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        cloud.stop()


if __name__ == "__main__":
    main()
