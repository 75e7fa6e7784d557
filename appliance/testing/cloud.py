"""A real `egret up` in a subprocess on free loopback ports, for e2e tests and benches."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from appliance.config import DEFAULT_PORTS
from appliance.testing.plugin import free_port


FORBIDDEN = ("HTTP 403", "403", "Forbidden")


def assert_cli_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    """The openstack CLI failed (never succeeded) and its stderr says why: one of `words`, by default a 403."""
    assert proc.returncode != 0, f"expected a refusal, got success:\n{proc.stdout}"
    assert any(w in proc.stderr for w in words or FORBIDDEN), proc.stderr


class CloudUser:
    """An ordinary user of a RunningCloud: its own clouds.yaml, so the unmodified clients act as that user."""

    def __init__(self, cloud: "RunningCloud", name: str, project: str, role: str, password: str,
                 user_id: str, project_id: str):
        self.cloud, self.name, self.project, self.role = cloud, name, project, role
        self.password, self.user_id, self.project_id = password, user_id, project_id
        self.clouds_yaml = cloud.state_dir / f"clouds-{name}.yaml"
        doc = {"clouds": {"egret": {"auth": self.auth, "region_name": "RegionOne", "interface": "public",
                                    "identity_api_version": 3}}}
        self.clouds_yaml.write_text(json.dumps(doc))  # JSON is YAML

    @property
    def auth(self) -> dict:
        return {"auth_url": self.cloud.url("identity", "/v3"), "username": self.name, "password": self.password,
                "project_name": self.project, "user_domain_name": "Default", "project_domain_name": "Default"}

    @property
    def env(self) -> dict:
        return {**self.cloud.env, "OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "OS_CLOUD": "egret"}

    def openstack(self, *args, check=True, timeout=120) -> subprocess.CompletedProcess:
        return self.cloud.openstack(*args, check=check, timeout=timeout, env=self.env)

    def openstack_json(self, *args, **kw):
        return json.loads(self.openstack(*args, "-f", "json", **kw).stdout)

    def token(self) -> str:
        return _password_token(self.cloud.url("identity", "/v3/auth/tokens"), self.name, self.password, self.project)

    def connection(self):
        """An openstacksdk Connection as this user."""
        import openstack  # openstacksdk takes a second to import, and only a few e2e tests want a Connection
        return openstack.connect(**self.auth, region_name="RegionOne")


class RunningCloud:
    """`egret up` with a private state dir; exposes the env for the openstack CLI and its clouds.yaml."""

    def __init__(self, state_dir: Path, services=("identity",), extra_env: dict | None = None,
                 password: str | None = None):
        self.state_dir = Path(state_dir)
        self.services = list(services)
        self.password = password or "Eg-" + secrets.token_urlsafe(12)
        self.ports = {name: free_port() for name in DEFAULT_PORTS}
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen | None = None
        self.output_path = self.state_dir / "egret-up.out"

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "EGRET_"))}
        env.update({
            "EGRET_STATE_DIR": str(self.state_dir),
            "EGRET_CONFIG_DIR": str(self.state_dir / "etc"),
            "EGRET_ADMIN_PASSWORD": self.password,
            "EGRET_ENABLED_SERVICES": ",".join(self.services),
            "OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml),
            "OS_CLOUD": "egret",
        })
        for name, port in self.ports.items():
            env[f"EGRET_PORT_{name.upper()}"] = str(port)
        env.update(self.extra_env)
        return env

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"

    def url(self, name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"

    @property
    def auth(self) -> dict:
        return {"auth_url": self.url("identity", "/v3"), "username": "admin", "password": self.password,
                "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"}

    def start(self, timeout: float = 120.0) -> "RunningCloud":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.output_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "appliance.cli", "up"], env=self.env,
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.output_path.read_text(errors="replace")
            if "Press Ctrl-C to stop." in text:
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"egret up exited {self.process.returncode}:\n{text}\n{self.logs()}")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"egret up not ready in {timeout}s:\n{self.output_path.read_text()}\n{self.logs()}")

    def logs(self) -> str:
        parts = []
        for path in sorted((self.state_dir / "logs").glob("*.log")):
            parts.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(parts)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ctrl-C, as a user would; returns egret up's exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def openstack(self, *args, check=True, timeout=120, env=None) -> subprocess.CompletedProcess:
        """Run the unmodified openstack CLI against this cloud (as the admin unless `env` says otherwise)."""
        exe = Path(sys.executable).parent / "openstack"
        proc = subprocess.run([str(exe), *args], env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n"
                                 f"{proc.stdout}\n{self.logs()}")
        return proc

    def openstack_json(self, *args, **kw):
        return json.loads(self.openstack(*args, "-f", "json", **kw).stdout)

    def egret(self, *args, timeout=120) -> subprocess.CompletedProcess:
        """Run the `egret` CLI against this cloud's state (join-token, enrol-token, cluster members, ...)."""
        return subprocess.run([sys.executable, "-m", "appliance.cli", *map(str, args)], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def admin_token(self) -> str:
        """A project-scoped admin token from this cloud's identity (password login)."""
        return _password_token(self.url("identity", "/v3/auth/tokens"), "admin", self.password, "admin")

    def add_user(self, name: str, project: str, role: str = "member") -> CloudUser:
        """As the admin: make `project` (if new) and a user with `role` on it; returns that user's clients."""
        existing = {p["Name"]: p["ID"] for p in self.openstack_json("project", "list")}
        project_id = existing.get(project) or self.openstack_json("project", "create", project)["id"]
        password = "Us-" + secrets.token_urlsafe(12)
        user = self.openstack_json("user", "create", "--project", project, "--password", password, name)
        self.openstack("role", "add", "--project", project, "--user", name, role)
        return CloudUser(self, name, project, role, password, user["id"], project_id)


def ordinary_users(cloud: RunningCloud) -> dict[str, CloudUser]:
    """The e2e tests' ordinary users, made by the admin: alice (member) and rita (reader) of proj-a; bob, a member
    of proj-b."""
    return {"alice": cloud.add_user("alice", "proj-a"), "rita": cloud.add_user("rita", "proj-a", "reader"),
            "bob": cloud.add_user("bob", "proj-b")}


def _password_token(url: str, user: str, password: str, project: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"},
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.headers["X-Subject-Token"]


class IdentityCalls:
    """Calls to identity as its admin, over the class's own `req(method, path, token, json)` and `admin` token: the
    checked call and the things tests make (a project, a user with a role on it). Identity's unit-test Env (a Flask
    test client) and the e2e ApiEnv (a running identity) share them."""

    def ok(self, method, path, token=None, json=None, status=None):
        resp = self.req(method, path, self.admin if token is None else token, json)
        expected = status or {"POST": 201, "PUT": 204, "DELETE": 204}.get(method, 200)
        assert resp.status_code == expected, (method, path, resp.status_code, resp.get_data(as_text=True))
        return resp.get_json(silent=True)

    def project(self, name) -> str:
        return self.ok("POST", "/v3/projects", json={"project": {"name": name, "domain_id": "default"}})["project"]["id"]

    def user(self, name, password="User-Pass-1", project_id=None, role="member") -> str:
        uid = self.ok("POST", "/v3/users", json={"user": {"name": name, "password": password,
                                                          "domain_id": "default"}})["user"]["id"]
        if project_id and role:
            self.ok("PUT", f"/v3/projects/{project_id}/users/{uid}/roles/{self.role_id(role)}")
        return uid

    def role_id(self, name) -> str:
        return self.ok("GET", f"/v3/roles?name={name}")["roles"][0]["id"]
