"""The metadata proxy program: 169.254.169.254:80 inside a qdhcp netns, forwarding to compute's metadata service.

Started by metadata.ensure() as a script (standard library only: importing the services.network package, Flask
and pyroute2 would quadruple its start-up). It binds inside the namespace, then switches its network namespace
back to the host's (setns on an inherited fd), so it reaches settings.url("metadata") on loopback. Like Neutron's
metadata agent it adds X-Forwarded-For, X-Neutron-Network-ID, X-Instance-ID (the device_id of the port with the
guest's IP) and X-Instance-ID-Signature = hex HMAC-SHA256(shared secret, instance id).
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import hmac
import http.client
import json
import os
import re
import ssl
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


def sign(secret: str, instance_id: str) -> str:
    return hmac.new(secret.encode(), instance_id.encode(), hashlib.sha256).hexdigest()


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
