"""Two booted images on one virtual L2 (qemu -netdev socket over 127.0.0.1) reach each other's APIs (before
setup, the wizard's: it is the only unit a box that is not set up runs)."""
from __future__ import annotations

import re

from appliance.testing.plugin import free_port

WIZARD_PORT = 80  # the image's 00-image.toml


def early(index: int) -> str:
    # a static address on the shared-L2 NIC (matched by MAC), through networkd so it keeps the address
    return (f"mkdir -p /run/systemd/network\n"
            f"printf '[Match]\\nMACAddress=52:54:00:aa:00:0{index}\\n\\n[Network]\\nAddress=192.168.77.{index}/24\\n"
            f"LinkLocalAddressing=no\\n' > /run/systemd/network/10-egret-l2.network\n"
            "networkctl reload\n")


def late(peer: int, port: int) -> str:
    return (f"for i in $(seq 1 300); do\n"
            f"  body=$(curl -sf --max-time 3 http://192.168.77.{peer}:{port}/healthz) && break; sleep 2\n"
            f"done\n"
            f"echo \"peer-api 192.168.77.{peer}:{port} $body\"\n"
            f"ip -4 -o addr show | grep -o '192.168.77.[0-9]*' | sed 's/^/l2-address: /'\n")


def test_two_boxes_reach_each_other_over_shared_l2(image, guests):
    port = WIZARD_PORT
    link = free_port()
    a = guests(image["raw"], "boxa", smp=1, socket_net=("listen", link), mac_index=1)
    b = guests(image["raw"], "boxb", smp=1, socket_net=("connect", link), mac_index=2)
    a.set_hook("early", early(1))
    a.set_hook("late", late(2, port))
    b.set_hook("early", early(2))
    b.set_hook("late", late(1, port))
    a.start()
    a.wait_for(r"Linux version", 120)  # the listening end must be up before the other connects
    b.start()
    for g, own, peer in ((a, 1, 2), (b, 2, 1)):
        m = g.wait_for(rf"EGRET-HOOK late: peer-api 192\.168\.77\.{peer}:{port} (.*)", 1200)
        assert re.search(r'"status":\s*"ok"', m.group(1)), g.tail()
        g.wait_for(rf"EGRET-HOOK late: l2-address: 192\.168\.77\.{own}\b", 60, m.end())
