"""`egret up` in the foreground: one per state dir, every enabled unit started, endpoints printed, kept running."""
from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading

from appliance import config
from appliance.endpoints import endpoints
from appliance.processes import Supervisor


def lock_state_dir(settings: config.Settings):
    """One `egret up` per state directory; the lock dies with the process (keep the returned file open)."""
    run = settings.state_dir / "run"
    run.mkdir(parents=True, exist_ok=True)
    fh = open(run / "egret-up.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        raise SystemExit(f"egret: egret up is already running for {settings.state_dir} (pid {fh.read().strip()})")
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def run(settings: config.Settings, clouds: str) -> int:
    """Start every enabled unit, print where they answer, keep them running until SIGINT/SIGTERM, stop them."""
    sup = Supervisor(settings)
    stop = threading.Event()

    def _signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _signal)
    signal.signal(signal.SIGTERM, _signal)
    try:
        sup.start()
    except RuntimeError as exc:
        sup.stop()
        print(f"egret: {exc}", file=sys.stderr)
        return 1
    running = {u.service for u in sup.units}
    print("Egret is up. Endpoints:")
    for label, url in endpoints(settings, sup.units):
        print(f"  {label:28s} {url}")
    if "firstboot" in running:
        print(f"Setup wizard: {settings.url('firstboot', '/')}")
    print(f"clouds.yaml:  {clouds}")
    print(f"  export OS_CLIENT_CONFIG_FILE={clouds}; openstack --os-cloud egret token issue")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            sup.poll_once()
    finally:
        print("Stopping services...", flush=True)
        sup.stop()
        print("Stopped.", flush=True)
    return 0
