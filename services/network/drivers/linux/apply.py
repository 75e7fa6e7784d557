"""Apply a Topology read as JSON from stdin with the Linux driver, and print what the node holds now.

    python -m services.network.drivers.linux.apply [--teardown] [STATE_DIR] < topology.json
    python -m services.network.drivers.linux.apply --serve [STATE_DIR]   (one topology per stdin line, one reply
                                                                           per stdout line; "teardown" tears down)

The node's settings come from /etc/egret (or EGRET_CONFIG_DIR) as for the service; run under `ip netns exec` it
builds a whole node's data plane inside that namespace (tests/integration/network/test_network_dp_vxlan.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from appliance import config
from services.network.drivers import base
from services.network.drivers.linux import LinuxDriver


def handle(driver: LinuxDriver, text: str) -> dict:
    """One request: a topology document, or "teardown"; the reply says what the node holds afterwards."""
    try:
        if text.strip() in ("teardown", '"teardown"'):
            driver.teardown()
        else:
            driver.apply(base.topology_from_dict(json.loads(text)))
    except (ValueError, RuntimeError) as exc:
        return {"error": str(exc)}
    return {"prefix": driver.prefix, "vxlan_peers": driver.vxlan_peers(), "inventory": driver.inventory()}


def main(argv=None, stdin=None, stdout=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    overrides = {"state_dir": Path(args[0]).absolute()} if args else {}
    driver = LinuxDriver(config.load(**overrides))
    if "--serve" in flags:
        for line in stdin:
            if line.strip():
                print(json.dumps(handle(driver, line)), file=stdout, flush=True)
        return 0
    reply = handle(driver, "teardown" if "--teardown" in flags else stdin.read())
    if "error" in reply:
        print(f"apply: {reply['error']}", file=sys.stderr)
        return 1
    print(json.dumps(reply), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
