"""The generated nftables rulesets load (nft --check) for awkward inputs: overlapping pairs, duplicates, IPv6."""
from __future__ import annotations

import os
import subprocess

import pytest

from services.network.drivers.base import Iface, PortSpec, RouterSpec, SgRule
from services.network.drivers.linux import nft

pytestmark = pytest.mark.integration


def _check(text):
    if os.geteuid() != 0:
        pytest.skip("nft --check needs CAP_NET_ADMIN (the build machines run as root)")
    proc = subprocess.run(["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + text


def test_security_group_ruleset_with_overlaps_loads():
    port = PortSpec(id="a" * 36, tap="tapaaaaaaaaaaa", bridge="brqx", mac="fa:16:3e:00:00:01",
                    ips=["10.0.0.5", "fd00::5"],
                    allowed_pairs=[{"ip_address": "10.0.0.0/24"}, {"ip_address": "10.0.0.5"},
                                   {"ip_address": "10.0.0.7", "mac_address": "FA:16:3E:00:00:09"}],
                    rules=[SgRule("ingress", "IPv4", "tcp", 80, 81, ["10.0.0.5", "10.0.0.0/24", "10.0.0.5"]),
                           SgRule("ingress", "IPv6", "icmpv6", 128, None, ["fd00::5", "fd00::/64"]),
                           SgRule("egress", "IPv4", "udp", None, None, ["0.0.0.0/0"]),
                           SgRule("ingress", "IPv4", "47", None, None, []),
                           SgRule("ingress", "IPv4", "icmp", 8, 0, None)])
    no_ip = PortSpec(id="b" * 36, tap="tapbbbbbbbbbbb", bridge="brqx", mac="fa:16:3e:00:00:02", ips=[])
    bridge_text, inet_text = nft.sg_ruleset("egzz", [port, no_ip])
    _check(bridge_text + inet_text)
    assert "10.0.0.0/24" in bridge_text and "10.0.0.5," not in bridge_text     # collapsed into the /24
    assert "meta l4proto 47" not in inet_text                                 # empty remote group: no rule


def test_nat_ruleset_loads():
    spec = RouterSpec(id="r", netns="x", interfaces=[], gateway=Iface("g", "tapg", "qg-g", "fa:16:3e:00:00:03", "brq",
                                                                      ["203.0.113.10/24"]),
                      internal_cidrs=["10.0.0.0/24", "10.1.0.0/24"], floating_ips=[("203.0.113.11", "10.0.0.5")])
    _check(nft.nat_ruleset(spec))
