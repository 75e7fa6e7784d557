"""Metadata proxy: listens on 169.254.169.254:80 inside a qdhcp netns, forwards to compute's metadata service.

It binds inside the namespace, then switches its network namespace back to the host's (setns on an inherited
fd), so it reaches settings.url("metadata") on loopback. Like Neutron's metadata agent it adds X-Forwarded-For,
X-Neutron-Network-ID, X-Instance-ID (the device_id of the port with the guest's IP) and
X-Instance-ID-Signature = hex HMAC-SHA256(shared secret, instance id).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

CLONE_NEWNET = 0x40000000
# only the metadata trees go upstream (as compute's services.compute.metadata.METADATA_PATH): a guest asking for
# /metrics, /healthz or anything else gets a 404 from the proxy and never reaches the service
METADATA_PATH = re.compile(r"^/(openstack(/[^/]*){0,2}/?|[^/]+/(user-data|meta-data(/.*)?))?$")


def forwardable(path: str) -> bool:
    path = urlparse(path).path
    return bool(METADATA_PATH.match(path)) and not path.startswith(("/metrics", "/healthz"))


def secret_path(state_dir: Path) -> Path:
    return Path(state_dir) / "secrets" / "metadata-proxy-secret"


def ensure_secret(state_dir: Path) -> Path:
    path = secret_path(state_dir)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)  # compute reads it too (group egret)
        except FileExistsError:     # compute's metadata service created it first: share that one
            return path
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path


def sign(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


def ensure(netns: str, network_id: str, conf: Path, hosts: dict, upstream: str, secret: Path) -> None:
    """Write the IP → (instance, project) map the proxy reads per request; start the proxy if it is not running."""
    from services.network.drivers.linux.dhcp import _write_if_changed, pid_alive
    _write_if_changed(conf / "metadata.json", json.dumps(hosts, sort_keys=True))
    if pid_alive(conf / "metadata.pid", str(conf)):
        return
    root_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        # run as a script (stdlib only; -P keeps its directory off sys.path), not with -m: that would import the
        # services.network package (Flask, pyroute2, the models), 4x the start-up time, which under TCG or on a
        # loaded box exceeded the timeout (found running the driver contract inside the appliance image)
        cmd = ["ip", "netns", "exec", netns, sys.executable, "-P", str(Path(__file__).resolve()),
               "--root-netns-fd", str(root_ns), "--conf", str(conf), "--network-id", network_id,
               "--upstream", upstream, "--secret", str(secret)]
        if upstream.startswith("https:"):
            # the box's API CA (appliance.pki.api_tls_files) sits in the same state dir as the shared secret
            cmd += ["--cafile", str(Path(secret).parent.parent / "tls" / "ca.crt")]
        proc = subprocess.run(cmd, pass_fds=(root_ns,), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"metadata proxy for {network_id} failed: {proc.stderr.strip()[-500:]}")
    finally:
        os.close(root_ns)


def stop(conf: Path) -> None:
    from services.network.drivers.linux.dhcp import pid_alive
    pid = pid_alive(conf / "metadata.pid", str(conf))
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


class _Handler(BaseHTTPRequestHandler):
    server_version = "egret-metadata-proxy"

    def _proxy(self):
        conf, network_id, upstream, secret, cafile = self.server.egret
        if not forwardable(self.path):
            self.send_error(404, "not a metadata path")
            return
        guest_ip = self.client_address[0]
        try:
            hosts = json.loads((conf / "metadata.json").read_text())
        except (OSError, ValueError):
            hosts = {}
        entry = hosts.get(guest_ip)
        if not entry or not entry[0]:
            self.send_error(404, "no instance has this address on this network")
            return
        instance_id, project_id = entry
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        headers.update({"X-Forwarded-For": guest_ip, "X-Neutron-Network-ID": network_id,
                        "X-Instance-ID": instance_id, "X-Tenant-ID": project_id or "",
                        "X-Instance-ID-Signature": sign(secret.read_text().strip(), instance_id)})
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        url = urlparse(upstream)
        try:
            if url.scheme == "https":  # [tls] enabled: compute serves the box's certificate; trust only its CA
                ctx = ssl.create_default_context(cafile=cafile)
                ctx.check_hostname = False  # the upstream is reached on loopback; the CA is the trust anchor
                conn = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=30, context=ctx)
            else:
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            self.send_error(502, f"metadata service unreachable: {exc}")
            return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_HEAD = _proxy

    def log_message(self, fmt, *args):
        pass


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root-netns-fd", type=int, required=True)
    p.add_argument("--conf", required=True)
    p.add_argument("--network-id", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--cafile", default=None, help="CA of an https upstream")
    args = p.parse_args(argv)
    conf = Path(args.conf)
    server = ThreadingHTTPServer(("169.254.169.254", args.port), _Handler)   # bound inside the netns
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(args.root_netns_fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns to the host network namespace failed")
    os.close(args.root_netns_fd)
    server.egret = (conf, args.network_id, args.upstream, Path(args.secret), args.cafile)
    # daemonize so the service never has to reap us and we outlive its restarts, like dnsmasq
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    (conf / "metadata.pid").write_text(str(os.getpid()))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    server.serve_forever()


if __name__ == "__main__":
    main()
