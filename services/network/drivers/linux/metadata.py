"""Metadata proxy per qdhcp namespace: its shared secret, its IP -> instance map, starting and stopping it.

The proxy program itself is metadata_proxy.py (run as a script, standard library only).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from services.network.drivers.linux import metadata_proxy
from services.network.drivers.linux.daemons import pid_alive, write_if_changed

# the proxy's request handling, for callers that test it in-process
from services.network.drivers.linux.metadata_proxy import (  # noqa: F401
    METADATA_PATH,
    _Handler,
    forwardable,
    sign,
)


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


def ensure(netns: str, network_id: str, conf: Path, hosts: dict, upstream: str, secret: Path) -> None:
    """Write the IP → (instance, project) map the proxy reads per request; start the proxy if it is not running."""
    write_if_changed(conf / "metadata.json", json.dumps(hosts, sort_keys=True))
    if pid_alive(conf / "metadata.pid", str(conf)):
        return
    root_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        # run as a script (stdlib only; -P keeps its directory off sys.path), not with -m: that would import the
        # services.network package (Flask, pyroute2, the models), 4x the start-up time, which under TCG or on a
        # loaded box exceeded the timeout (found running the driver contract inside the appliance image)
        cmd = ["ip", "netns", "exec", netns, sys.executable, "-P", str(Path(metadata_proxy.__file__).resolve()),
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
    pid = pid_alive(conf / "metadata.pid", str(conf))
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
