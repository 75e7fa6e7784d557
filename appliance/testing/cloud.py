"""A real `egret up` in a subprocess on free loopback ports, for e2e tests and benches."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.config import DEFAULT_PORTS
from appliance.testing.plugin import free_port


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

    def openstack(self, *args, check=True, timeout=120) -> subprocess.CompletedProcess:
        """Run the unmodified openstack CLI against this cloud."""
        exe = Path(sys.executable).parent / "openstack"
        proc = subprocess.run([str(exe), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n"
                                 f"{proc.stdout}\n{self.logs()}")
        return proc

    def openstack_json(self, *args, **kw):
        import json
        return json.loads(self.openstack(*args, "-f", "json", **kw).stdout)

    def egret(self, *args, timeout=120) -> subprocess.CompletedProcess:
        """Run the `egret` CLI against this cloud's state (join-token, enrol-token, cluster members, ...)."""
        return subprocess.run([sys.executable, "-m", "appliance.cli", *map(str, args)], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def admin_token(self) -> str:
        """A project-scoped admin token from this cloud's identity (password login)."""
        import json
        import urllib.request
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": self.password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        req = urllib.request.Request(self.url("identity", "/v3/auth/tokens"), data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.headers["X-Subject-Token"]
