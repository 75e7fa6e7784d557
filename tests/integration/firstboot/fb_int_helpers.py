"""Helpers: real namespaces, veth pairs and loop devices for the wizard's discovery and system layer (cleaned up)."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def sh(*cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {proc.stderr}")
    return proc


class Netns:
    """A namespace with a veth pair: `inner` (the box's NIC) and `peer` (the rest of the LAN), both inside."""

    def __init__(self):
        self.prefix = "fb" + secrets.token_hex(2)
        self.name = self.prefix + "-ns"
        self.inner, self.peer = self.prefix + "m", self.prefix + "p"

    def create(self):
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        sh("ip", "-n", self.name, "link", "add", self.inner, "type", "veth", "peer", "name", self.peer)
        sh("ip", "-n", self.name, "addr", "add", "10.66.0.2/24", "dev", self.inner)
        sh("ip", "-n", self.name, "addr", "add", "10.66.0.1/24", "dev", self.peer)
        sh("ip", "-n", self.name, "link", "set", self.inner, "up")
        sh("ip", "-n", self.name, "link", "set", self.peer, "up")
        return self

    def delete(self):
        sh("ip", "netns", "del", self.name, check=False)

    def run_python(self, code: str):
        proc = sh("ip", "netns", "exec", self.name, sys.executable, "-c", code)
        return json.loads(proc.stdout)

    def addresses(self, ifname):
        out = json.loads(sh("ip", "-n", self.name, "-j", "addr", "show", "dev", ifname).stdout)
        return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"]

    def default_route(self):
        out = json.loads(sh("ip", "-n", self.name, "-j", "-4", "route", "show", "default").stdout)
        return out[0]["gateway"] if out else None


