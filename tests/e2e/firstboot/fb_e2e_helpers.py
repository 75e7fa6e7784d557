"""A real wizard process (gunicorn, as the manifest runs it) inside a namespace reached over a veth, and Chromium."""
from __future__ import annotations

import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from appliance.testing.plugin import free_port

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts" / "firstboot"
VENV_BIN = Path(sys.executable).parent


def sh(*cmd, check=True, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: {proc.stdout}\n{proc.stderr}")
    return proc


class Lan:
    """Namespace = the box; veth `<p>m` is its NIC; `<p>h` stays in the root namespace as the operator's LAN."""

    def __init__(self):
        self.prefix = "fb" + secrets.token_hex(2)
        self.ns = self.prefix + "-box"
        self.nic, self.host_if = self.prefix + "m", self.prefix + "h"
        self.net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}"
        self.host_ip, self.box_ip, self.new_ip = f"{self.net}.1", f"{self.net}.2", f"{self.net}.3"

    def create(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.nic, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.box_ip}/24", "dev", self.nic)
        sh("ip", "-n", self.ns, "link", "set", self.nic, "up")
        return self

    def addresses(self):
        out = json.loads(sh("ip", "-n", self.ns, "-j", "addr", "show", "dev", self.nic).stdout)
        return [f"{a['local']}/{a['prefixlen']}" for a in out[0]["addr_info"] if a["family"] == "inet"]

    def delete(self):
        sh("ip", "link", "del", self.host_if, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


class Box:
    """Env and processes of one box: the wizard (or `egret up`) run inside the namespace."""

    def __init__(self, tmp: Path, lan: Lan, **firstboot):
        self.tmp, self.lan = tmp, lan
        tmp.mkdir(parents=True, exist_ok=True)
        self.state = tmp / "state"
        self.root = tmp / "root"
        self.ports = {"firstboot": free_port(), "identity": free_port(), "cluster": free_port()}
        self.firstboot = {"system_root": str(self.root), "confirm_timeout": 60, "dhcp_timeout": 3, **firstboot}
        self.services = ["identity", "firstboot"]  # what the wizard starts (a test may add the cluster unit)
        self.service_settings: dict = {}
        self.procs: list[subprocess.Popen] = []

    @property
    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "EGRET_"))}
        env.update({"EGRET_STATE_DIR": str(self.state), "EGRET_CONFIG_DIR": str(self.state / "etc"),
                    "EGRET_ENABLED_SERVICES": ",".join(self.services), "EGRET_BIND_HOST": "0.0.0.0",
                    "EGRET_PASSWORD_HASH_LOG2N": "12",
                    "EGRET_SERVICE": json.dumps({**self.service_settings, "firstboot": self.firstboot}),
                    "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"})
        for name, port in self.ports.items():
            env[f"EGRET_PORT_{name.upper()}"] = str(port)
        return env

    def in_ns(self, *cmd):
        return ["ip", "netns", "exec", self.lan.ns, *map(str, cmd)]

    def egret(self, *args, check=True, timeout=300):
        return sh(*self.in_ns(VENV_BIN / "egret", *args), env=self.env, check=check, timeout=timeout)

    def url(self, ip=None, path="/"):
        return f"http://{ip or self.lan.box_ip}:{self.ports['firstboot']}{path}"

    def start_wizard(self):
        """`egret serve firstboot`: the gunicorn command the manifest and the box's unit run."""
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.tmp / "wizard.log", "ab")
        proc = subprocess.Popen(self.in_ns(VENV_BIN / "egret", "serve", "firstboot"), env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        wait_http(self.url(path="/healthz"), proc, self.tmp / "wizard.log")
        return proc

    def setup_code(self) -> str:
        text = self.egret("firstboot", "--banner").stdout
        return re.search(r"setup code:\s+(\S+)", text).group(1)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        # services the wizard started live in their own sessions: the supervisor's record names them
        record = self.state / "run" / "supervisor.json"
        if record.exists():
            for unit in json.loads(record.read_text())["units"].values():
                if unit.get("pid"):
                    try:
                        os.killpg(unit["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def written_files(self) -> dict:
        """egret.toml and the /etc files, with this box's paths, subnet and NIC name made generic."""
        files = {"egret.toml": (self.state / "etc" / "egret.toml").read_text()}
        for p in sorted(self.root.rglob("*")):
            if p.is_symlink():
                files[str(p.relative_to(self.root))] = "-> " + os.readlink(p)
            elif p.is_file():
                files[str(p.relative_to(self.root))] = p.read_text()
        subst = [(str(self.state), "STATE"), (str(self.root), "ROOT"), (self.lan.net + ".", "NET."),
                 (self.lan.nic, "NIC")]
        for key, text in files.items():
            for old, new in subst:
                text = text.replace(old, new)
            files[key] = text
        return files

    def logs(self) -> str:
        parts = []
        for p in [self.tmp / "wizard.log", *sorted((self.state / "logs").glob("*.log"))]:
            if p.exists():
                parts.append(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-60:]))
        return "\n".join(parts)


def wait_http(url, proc=None, log=None, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode}:\n{log.read_text() if log else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not answering after {timeout}s\n{log.read_text() if log and log.exists() else ''}")


def chromium(download_dir: Path, user_data: Path, secure_origins=()):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--no-proxy-server", f"--user-data-dir={user_data}",
                 "--window-size=1100,1400"):
        opts.add_argument(flag)
    if secure_origins:
        # plain HTTP in tests (the box serves TLS): otherwise Chromium holds back the clouds.yaml download
        opts.add_argument("--unsafely-treat-insecure-origin-as-secure=" + ",".join(secure_origins))
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(10)  # a form submitted with Enter returns before the next page is parsed
    return driver


class Shots:
    def __init__(self, driver, name):
        self.driver, self.dir, self.n = driver, ARTIFACTS / name, 0
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()

    def __call__(self, label):
        self.n += 1
        # the full page: grow the window to the document's height first
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1100, max(900, min(height + 40, 4000)))
        self.driver.save_screenshot(str(self.dir / f"{self.n:02d}-{label}.png"))
