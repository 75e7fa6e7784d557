"""A site on one machine: a founder (`egret up` with the control plane) and members joined for real, each its own box."""
from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import requests

from appliance import config
from appliance.cluster import membership
from appliance.testing.cloud import RunningCloud
from appliance.testing.postgres import admin_sql

CONTROL_PLANE = ["identity", "cluster", "compute", "network", "storage"]
NODE_UNITS = ["cluster", "compute-agent", "network-agent"]


def _write_config(box: RunningCloud, name: str, interval: float, prefix: str = "egret-", extra: str = "",
                  tag: str = "", vtep: tuple[str, int] = ("127.0.0.1", 4789)) -> None:
    """The box's settings; `tag` keeps a member's network links apart from the founder's (untagged) on one machine,
    `vtep` (its own address, its own UDP port) its VXLAN endpoint. Only the founder keeps the external upstream:
    members run no routers."""
    etc = box.state_dir / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    upstream = "external_upstream = {}\n" if tag else ""
    (etc / "egret.toml").write_text(f'[service.cluster]\nnode_name = "{name}"\nheartbeat_interval = {interval}\n'
                                    f'[service.compute]\ndomain_prefix = "{prefix}{name}-"\n'
                                    f'[service.network]\nnode_tag = "{tag}"\nvxlan_local_ip = "{vtep[0]}"\n'
                                    f'vxlan_port = {vtep[1]}\n{upstream}{extra}')


def vxlan_base_port(root: Path) -> int:
    """The site's first VXLAN port: one per site root, away from 4789, so a cloud of another test on this machine
    (VNIs from the same range) never shares a socket with the site's nodes; node i listens on base + i."""
    return 20000 + int(hashlib.sha256(str(root).encode()).hexdigest(), 16) % 20000


def _control_plane_databases(server_url: str) -> str:
    """A new database on the server for each control-plane service; the settings' URL with `{service}` in it."""
    stem = f"site_{uuid.uuid4().hex[:12]}"
    for service in CONTROL_PLANE:
        admin_sql(server_url, f"CREATE DATABASE {stem}_{service}")
    return server_url.rsplit("/", 1)[0] + "/" + stem + "_{service}"


class Site:
    """The founder `alpha` and members, each with its own state dir, loopback address (127.0.0.2, .3, ...) and
    node name; every member's compute agent listens on the port the founder's control plane calls (each address
    its own), as on separate boxes. `fake=True` runs every driver as its fake (the agents are still real).
    `postgres` (a server URL) keeps the control plane's state in PostgreSQL, as a founded site does, one database
    per service; by default the founder keeps SQLite."""

    def __init__(self, root: Path, members=("beta", "gamma"), interval: float = 1.0, fake: bool = True,
                 site_name: str = "lab", member_units=NODE_UNITS, prefix: str = "egret-", extra: str = "",
                 postgres: str = ""):
        self.root, self.interval, self.site_name = Path(root), interval, site_name
        env = {"EGRET_FAKE_DRIVERS": "1"} if fake else {}
        founder_env = {**env, "EGRET_DATABASE_URL": _control_plane_databases(postgres)} if postgres else env
        self.founder = RunningCloud(self.root / "alpha", services=CONTROL_PLANE, extra_env=founder_env)
        vxlan = vxlan_base_port(self.root)
        _write_config(self.founder, "alpha", interval, prefix, extra, vtep=("127.0.0.1", vxlan))
        self.members: dict[str, RunningCloud] = {}
        self.addresses: dict[str, str] = {}
        for i, name in enumerate(members):
            ip = f"127.0.0.{i + 2}"
            box = RunningCloud(self.root / name, services=list(member_units),
                               extra_env={**env, "EGRET_BIND_HOST": ip, "EGRET_PUBLIC_HOST": ip})
            for port in ("compute_agent", "network_agent"):     # one port, one address per node
                box.ports[port] = self.founder.ports[port]
            _write_config(box, name, interval, prefix, extra, tag=name[:2], vtep=(ip, vxlan + i + 1))
            self.members[name], self.addresses[name] = box, ip

    @property
    def settings(self) -> config.Settings:
        return config.load(env=self.founder.env)

    def start(self) -> "Site":
        membership.found(self.settings, self.site_name)
        self.founder.start()
        for name, box in self.members.items():
            out = self.founder.egret("join-token", "--ttl", "600")
            assert out.returncode == 0, out.stdout + out.stderr
            joined = box.egret("join", out.stdout.splitlines()[0], "--address",
                               f"{self.addresses[name]}:{box.ports['cluster']}")
            assert joined.returncode == 0, joined.stdout + joined.stderr
            box.start()
        assert self.wait(lambda: all(self.hypervisors().get(n, {}).get("state") == "up" for n in self.members),
                         timeout=60), (self.hypervisors(), self.founder.logs())
        return self

    def stop(self) -> None:
        for box in self.members.values():
            box.stop()
        self.founder.stop()

    def hypervisors(self) -> dict:
        resp = requests.get(self.founder.url("compute", "/v2.1/os-hypervisors/detail"), timeout=10,
                            headers={"X-Auth-Token": self.founder.admin_token(),
                                     "OpenStack-API-Version": "compute 2.53"})
        assert resp.status_code == 200, resp.text
        return {h["hypervisor_hostname"]: h for h in resp.json()["hypervisors"]}

    @staticmethod
    def wait(what, timeout: float = 30.0, step: float = 0.2):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = what()
            if value:
                return value
            time.sleep(step)
        return what()
