"""Helpers for the real data-plane tests: namespaces standing in for VMs and outside hosts, the app under test."""
from __future__ import annotations

import json
import secrets
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


HOOK = """#!/bin/sh
# udhcpc event hook: address, routes from option 121 (or 3), like a cloud image's DHCP client
case "$1" in
  deconfig) ip addr flush dev $interface; ip link set $interface up ;;
  bound|renew)
    ip addr add $ip/${mask:-24} dev $interface
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do ip route replace $1 via $2 dev $interface; shift 2; done
    elif [ -n "$router" ]; then ip route replace default via $router dev $interface; fi
    echo "LEASE ip=$ip router=$router hostname=$hostname dns=$dns routes=$staticroutes" ;;
esac
"""


def sh(*cmd, check=True, timeout=30, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


class Vm:
    """A netns with eth0 whose peer is the port's tap on the network bridge (what libvirt does for a guest)."""

    def __init__(self, name, port, hook):
        self.name, self.port, self.hook = name, port, hook
        self.tap = "tap" + port["id"][:11]
        self.bridge = "brq" + port["network_id"][:11]
        sh("ip", "netns", "add", name)
        sh("ip", "link", "add", self.tap, "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "-n", name, "link", "set", "eth0", "address", port["mac_address"])
        sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "link", "set", self.tap, "master", self.bridge, "up")

    def dhcp(self) -> str:
        out = self.run("busybox", "udhcpc", "-O", "staticroutes", "-i", "eth0", "-n", "-q", "-t", "6", "-T", "1", "-s", self.hook).stdout
        assert "LEASE" in out, out
        return out

    def run(self, *cmd, check=True, timeout=30):
        return sh("ip", "netns", "exec", self.name, *cmd, check=check, timeout=timeout)

    def ping(self, ip, count=2) -> bool:
        return self.run("ping", "-c", str(count), "-W", "1", "-i", "0.2", ip, check=False).returncode == 0

    @property
    def ip(self):
        return self.port["fixed_ips"][0]["ip_address"]

    def destroy(self):
        sh("ip", "netns", "pids", self.name, check=False)
        for pid in sh("ip", "netns", "pids", self.name, check=False).stdout.split():
            subprocess.run(["kill", "-9", pid], capture_output=True)
        subprocess.run(["ip", "link", "del", self.tap], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def serve_once(netns, port, reply=b"hello", timeout=8.0):
    """A TCP server in `netns` that answers one connection with `reply` + the peer address; returns the Popen."""
    code = ("import socket,sys;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
            f"s.bind(('0.0.0.0',{port}));s.listen(5);s.settimeout({timeout});print('ready',flush=True)\n"
            "while True:\n c,a=s.accept();c.sendall(%r+b' peer='+a[0].encode());c.close()" % reply)
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "python3", "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def connect(netns, ip, port, timeout=10.0) -> str | None:
    # generous by default: on a loaded 2-core machine the Python peers may wait seconds for a CPU; the
    # "must be closed" checks pass a short timeout explicitly
    code = (f"import socket\ntry:\n s=socket.create_connection(('{ip}',{port}),timeout={timeout});"
            "print(s.recv(200).decode())\nexcept Exception as e: print('FAIL',type(e).__name__)")
    out = sh("ip", "netns", "exec", netns, "python3", "-c", code, timeout=timeout + 10).stdout.strip()
    return None if out.startswith("FAIL") else out


def send_udp(netns, ip, port, tos=0, count=3) -> None:
    """A few UDP datagrams from `netns` to ip:port with the IP TOS byte the sender sets (broadcast allowed)."""
    code = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1);"
            f"s.setsockopt(socket.IPPROTO_IP,socket.IP_TOS,{tos})\n"
            f"for _ in range({count}): s.sendto(b'mark',('{ip}',{port}))")
    sh("ip", "netns", "exec", netns, "python3", "-c", code)


def received_tos(netns, port, send, timeout=10.0) -> int | None:
    """The TOS byte (DSCP << 2 | ECN) of the first UDP datagram to `port` in `netns` after `send()` runs, as the
    receiving socket sees it (IP_RECVTOS); None if nothing came."""
    code = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            "s.setsockopt(socket.IPPROTO_IP,socket.IP_RECVTOS,1);"
            f"s.bind(('0.0.0.0',{port}));s.settimeout({timeout});print('ready',flush=True)\n"
            "try:\n _,anc,_,_=s.recvmsg(64,64);print(anc[0][2][0])\nexcept OSError: print('none')")
    proc = subprocess.Popen(["ip", "netns", "exec", netns, "python3", "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "ready"
    send()
    out = proc.communicate(timeout=timeout + 10)[0].strip()
    return None if out == "none" else int(out)


class MetadataStub:
    """Stands in for compute's metadata service: records the headers of every request."""

    def __init__(self, port):
        self.requests = []
        stub = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
                body = json.dumps({"uuid": self.headers.get("X-Instance-ID")}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Api:
    def __init__(self, client, token):
        self.client, self.token = client, token

    def __call__(self, method, path, body=None, status=None, **params):
        resp = self.client.open(path, method=method, json=body, query_string=params or None,
                                headers={"X-Auth-Token": self.token})
        doc = resp.get_json(silent=True) if resp.data else None
        assert (resp.status_code < 300 if status is None else resp.status_code == status), (resp.status_code, doc)
        return doc


class Cloud:
    """The network service on the real Linux driver, driven through its API like Neutron's clients do."""

    def __init__(self, env, mint_token):
        from services.network import create_app
        self.env = env
        self.app = create_app(env["settings"])
        self.driver = env["driver"] = self.app.extensions["egret.driver"]
        self.manager = self.app.extensions["egret.manager"]
        client = self.app.test_client()
        self.admin = Api(client, mint_token(user_id="admin", project_id="p-admin", roles=["admin", "member"]))
        self.a = Api(client, mint_token(user_id="ua", project_id="p-a", roles=["member"]))
        self.b = Api(client, mint_token(user_id="ub", project_id="p-b", roles=["member"]))

    def network(self, api, cidr, name="net"):
        net = api("POST", "/v2.0/networks", {"network": {"name": name}})["network"]
        sub = api("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}})
        return net, sub["subnet"]

    def public(self):
        net = self.admin("POST", "/v2.0/networks", {"network": {
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "public"}})["network"]
        sub = self.admin("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": "203.0.113.0/24", "gateway_ip": "203.0.113.1", "enable_dhcp": False,
            "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.50"}]}})["subnet"]
        return net, sub

    def router(self, api, subnet, public):
        r = api("POST", "/v2.0/routers", {"router": {"name": "r", "external_gateway_info": {
            "network_id": public["id"]}}})["router"]
        api("PUT", f"/v2.0/routers/{r['id']}/add_router_interface", {"subnet_id": subnet["id"]})
        return r

    def port(self, api, net, **extra):
        return api("POST", "/v2.0/ports", {"port": {"network_id": net["id"], "device_id": "vm-" + secrets.token_hex(4),
                                                   "device_owner": "compute:nova", **extra}})["port"]

    def vm(self, port):
        vm = Vm(f"{self.env['prefix']}vm{len(self.env['vms'])}", port, self.env["hook"])
        self.env["vms"].append(vm)
        return vm

    def diag(self) -> str:
        """State worth seeing when a connectivity assertion fails: SG tables with counters, conntrack stats."""
        prefix = self.env["prefix"]
        parts = []
        for cmd in (["nft", "list", "table", "inet", f"{prefix}_sg"], ["nft", "list", "table", "bridge", f"{prefix}_sg"],
                    ["conntrack", "-S"], ["sysctl", "net.bridge.bridge-nf-call-iptables",
                                          "net.netfilter.nf_conntrack_checksum"]):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            parts.append("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr)
        return "\n".join(parts)

    def sync(self):
        self.manager.sync()
        assert self.driver.last_errors == [], self.driver.last_errors


