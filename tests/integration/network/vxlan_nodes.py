"""Two site nodes on one machine: each a network namespace whose data plane the Linux driver builds, joined by a
veth underlay; "VMs" are namespaces whose eth0 is a port's tap on a node's bridge. Nothing leaves the namespaces.

Used by tests/integration/network/test_network_dp_vxlan.py and bench/vxlan.py.
"""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from network_dp_support import sh  # noqa: F401 (the tests import it from here too)

from appliance import config, pki
from appliance.manifest import load_manifest
from appliance.processes import gunicorn_command
from services.network.drivers import base, names

ROOT = Path(__file__).resolve().parents[3]
UNDERLAY = "10.77.0.{}"         # inside the node namespaces only
AGENT_PORT = 8122               # each node's network agent, on its underlay address inside its namespace
TENANT = "10.88.0.{}"


class Node:
    """One node: a netns holding its underlay address; its driver runs in it, one process per apply (a restart)."""

    def __init__(self, netns: str, ip: str, state_dir: Path, prefix: str, port: int = base.VXLAN_PORT,
                 node_tag: str = ""):
        self.netns, self.ip, self.state_dir, self.port = netns, ip, state_dir, port
        etc = state_dir / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "network.toml").write_text(
            f'[service.network]\nprefix = "{prefix}"\nnode_tag = "{node_tag}"\nvxlan_local_ip = "{ip}"\n'
            f"vxlan_port = {port}\nexternal_upstream = {{}}\n")
        self.ports: list[base.PortSpec] = []

    @property
    def vtep(self) -> str:
        return f"{self.ip}:{self.port}"          # explicit: a bare address means the receiving node's own port

    def start(self) -> None:
        """(Re)start this node's driver: a fresh process inside the namespace, its state read from the kernel."""
        self.stop()
        env = {**os.environ, "EGRET_CONFIG_DIR": str(self.state_dir / "etc"), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns, sys.executable, "-m",
                                      "services.network.drivers.linux.apply", "--serve", str(self.state_dir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def stop(self) -> None:
        if getattr(self, "proc", None) is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc = None

    def request(self, text: str) -> dict:
        if getattr(self, "proc", None) is None:
            self.start()
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the driver of {self.netns} exited ({self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def apply(self, topology: base.Topology) -> dict:
        return self.request(json.dumps(base.topology_to_dict(topology)))

    def teardown(self) -> None:
        try:
            self.request("teardown")
        finally:
            self.stop()

    def run(self, *cmd, check=True, timeout=30):
        return sh("ip", "netns", "exec", self.netns, *cmd, check=check, timeout=timeout)


class Vm:
    """A netns whose eth0 is the peer of a port's tap inside a node's namespace (what libvirt does on a node)."""

    def __init__(self, netns: str, node: Node, network: base.NetSpec, index: int):
        self.netns, self.node, self.ip = netns, node, TENANT.format(index)
        port_id = str(uuid.uuid4())
        mac = "fa:16:3e:88:00:%02x" % index
        self.port = base.PortSpec(id=port_id, tap=names.tap(port_id), bridge=network.bridge, mac=mac, ips=[self.ip],
                                  port_security=False)
        sh("ip", "netns", "add", netns)
        sh("ip", "-n", node.netns, "link", "add", self.port.tap, "mtu", str(network.mtu), "type", "veth",
           "peer", "name", "eth0", "netns", netns)
        sh("ip", "-n", netns, "link", "set", "eth0", "address", mac, "mtu", str(network.mtu), "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        sh("ip", "-n", netns, "addr", "add", f"{self.ip}/24", "dev", "eth0")
        sh("ip", "-n", node.netns, "link", "set", self.port.tap, "up")
        node.ports.append(self.port)

    def run(self, *cmd, check=True, timeout=30):
        return sh("ip", "netns", "exec", self.netns, *cmd, check=check, timeout=timeout)

    def ping(self, ip: str, count: int = 2, size: int | None = None, wait: float = 1) -> bool:
        extra = ["-M", "do", "-s", str(size)] if size is not None else []
        return self.run("ping", "-c", str(count), "-W", str(wait), "-i", "0.2", *extra, ip,
                        check=False).returncode == 0


class TwoNodes:
    """Namespaces `<tag>-n1`/`<tag>-n2` (underlay 10.77.0.1/.2 on a veth pair), one VXLAN network, a VM on each."""

    def __init__(self, tag: str, tmp: Path, vni: int, mtu: int = 1450, underlay_mtu: int = 1500):
        self.tag, self.namespaces = tag, []
        self.nodes = []
        for i in (1, 2):
            ns = self._netns(f"{tag}-n{i}")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.nodes.append(Node(ns, UNDERLAY.format(i), tmp / f"n{i}", f"{tag}{'ab'[i - 1]}"))
        n1, n2 = self.nodes
        sh("ip", "link", "add", "u1", "netns", n1.netns, "mtu", str(underlay_mtu), "type", "veth",
           "peer", "name", "u2", "netns", n2.netns, "mtu", str(underlay_mtu))
        for node, dev in ((n1, "u1"), (n2, "u2")):
            sh("ip", "-n", node.netns, "addr", "add", f"{node.ip}/24", "dev", dev)
            sh("ip", "-n", node.netns, "link", "set", dev, "up")
        net_id = str(uuid.uuid4())
        self.network = base.NetSpec(id=net_id, bridge=names.bridge(net_id), network_type="vxlan",
                                    physical_network=None, segmentation_id=vni, mtu=mtu)
        self.vms = [Vm(self._netns(f"{tag}-vm{i}", create=False), node, self.network, 10 + i)
                    for i, node in ((1, n1), (2, n2))]
        self.tmp = tmp

    def add_node_beside(self, index: int, node_tag: str, port: int) -> Node:
        """A third node sharing node `index`'s namespace (two nodes on one machine): same address, its own tag
        and VXLAN port, and a VM of its own."""
        host = self.nodes[index]
        node = Node(host.netns, host.ip, self.tmp / f"n{len(self.nodes) + 1}", f"{self.tag}{'ab'[index]}", port,
                    node_tag)
        self.nodes.append(node)
        self.vms.append(Vm(self._netns(f"{self.tag}-vm{len(self.nodes)}", create=False), node, self.network,
                           10 + len(self.nodes)))
        return node

    def _netns(self, name: str, create: bool = True) -> str:
        if create:
            sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        return name

    def topology(self, node: Node, peers: list[str]) -> base.Topology:
        return base.Topology(networks=[self.network], ports=list(node.ports), vxlan_peers=peers)

    def apply(self, peers: dict[int, list[str]] | None = None) -> list[dict]:
        """Every node at once; by default each node's peers are all nodes (the site's member list: a node skips
        itself)."""
        everyone = [n.vtep for n in self.nodes]
        peers = peers if peers is not None else {i: everyone for i in range(len(self.nodes))}
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            return list(pool.map(lambda i: self.nodes[i].apply(self.topology(self.nodes[i], peers[i])),
                                 range(len(self.nodes))))

    def close(self) -> None:
        for node in self.nodes:
            node.teardown()
        for ns in reversed(self.namespaces):
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                subprocess.run(["kill", "-9", pid], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class NodeAgent:
    """A node's network agent as its unit runs it (the manifest's gunicorn command: HTTPS, client certificates
    checked against the site CA), inside the node's namespace on its underlay address and with its settings, so
    it drives the same links as the node's apply process. The root namespace (the control plane in the tests)
    reaches it over a management veth routed to that address. `site`: tests/contract/compute/remote_support.Site."""

    def __init__(self, two: TwoNodes, index: int, site, name: str, control: str):
        self.node, self.name = two.nodes[index], name
        node = self.node
        octet = int(two.tag[2:], 16) % 100 * 2 + index + 20
        self.link = f"{two.tag}m{index}"
        sh("ip", "link", "add", self.link, "type", "veth", "peer", "name", "m0", "netns", node.netns)
        sh("ip", "addr", "add", f"10.76.{octet}.1/24", "dev", self.link)
        sh("ip", "link", "set", self.link, "up")
        sh("ip", "-n", node.netns, "addr", "add", f"10.76.{octet}.2/24", "dev", "m0")
        sh("ip", "-n", node.netns, "link", "set", "m0", "up")
        sh("ip", "route", "add", f"{node.ip}/32", "via", f"10.76.{octet}.2")
        (node.state_dir / "etc" / "agent.toml").write_text(
            f'[service.network-agent]\ncontrol_plane = ["{control}"]\n')
        settings = config.load(env={"EGRET_CONFIG_DIR": str(node.state_dir / "etc")}, state_dir=node.state_dir)
        settings.state_dir, settings.bind_host = node.state_dir, node.ip
        settings.ports = {**settings.ports, "network_agent": AGENT_PORT}
        files = pki.tls_files(settings, "network-agent")
        files["cert"].parent.mkdir(parents=True, exist_ok=True)
        site.ca.ensure_leaf(files["cert"], files["key"], name, [node.ip])
        files["ca"].write_text(site.ca.cert_pem)
        cmd = gunicorn_command(settings, load_manifest()["network-agent"])
        env = {**os.environ, **config.to_env(settings), "PYTHONPATH": str(ROOT)}
        self.log = node.state_dir / "agent.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["ip", "netns", "exec", node.netns, *cmd], env=env, cwd=ROOT,
                                         stdout=log, stderr=subprocess.STDOUT)
        self._wait()

    @property
    def address(self) -> str:
        return f"{self.node.ip}:{AGENT_PORT}"

    def _wait(self, timeout: float = 30) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the agent of {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"https://{self.address}/healthz", context=ctx, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the agent of {self.name} did not come up: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)   # its route goes with it
