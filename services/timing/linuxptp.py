"""linuxptp on this node: ptp4l (and phc2sys) for the current profile, restarted when they exit, read with pmc."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
import time
from pathlib import Path

from services.timing import profile as ptp_profile

log = logging.getLogger("egret.timing")

# pmc answers "<identity> seq N RESPONSE MANAGEMENT <DATA_SET>" followed by indented "key value" lines
_HEADER = re.compile(r"^\S+ seq \d+ RESPONSE MANAGEMENT (\S+)")
_QUERIES = ("GET CURRENT_DATA_SET", "GET PORT_DATA_SET", "GET TIME_STATUS_NP")


def parse_pmc(text: str) -> dict:
    """pmc's answers to _QUERIES as the node's clock state (offsets in ns; one port state per port number)."""
    blocks: list[tuple[str, dict]] = []
    for line in text.splitlines():
        head = _HEADER.match(line.strip())
        if head:
            blocks.append((head.group(1), {}))
        elif blocks and line.startswith("\t"):
            key, _, value = line.strip().partition(" ")
            blocks[-1][1][key] = value.strip()
    state: dict = {"port_states": {}}
    for name, values in blocks:
        if name == "CURRENT_DATA_SET":
            state.update(offset_ns=float(values["offsetFromMaster"]), mean_path_delay_ns=float(values["meanPathDelay"]),
                         steps_removed=int(values["stepsRemoved"]))
        elif name == "PORT_DATA_SET":
            state["port_states"][values["portIdentity"].rsplit("-", 1)[-1]] = values["portState"]
        elif name == "TIME_STATUS_NP":
            state.update(gm_present=values.get("gmPresent") == "true", gm_identity=values.get("gmIdentity"),
                         master_offset_ns=int(values.get("master_offset", 0)))
    return state


class LinuxPtp:
    """Runs what the profile needs; `netns` (a service setting, not the API's) runs them in a network namespace."""

    def __init__(self, run_dir: Path, netns: str | None = None, poll: float = 2.0, state_file: Path | None = None):
        self.run_dir = Path(run_dir)
        self.state_file = state_file
        self.netns = netns
        self.poll = poll
        self.profile = dict(ptp_profile.DEFAULT)
        self.procs: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, list[str]] = {}
        self.restarts: dict[str, int] = {}
        self.clock: dict = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._written = ""

    @property
    def uds(self) -> str:
        return str(self.run_dir / "ptp4l.sock")

    def configure(self, profile: dict) -> None:
        """Stop what runs; start what `profile` needs (nothing when it is disabled)."""
        with self._lock:
            self._stop_all()
            self.profile, self.clock = dict(profile), {}
            self.argv = {}
            if not profile["enabled"]:
                return
            self.run_dir.mkdir(parents=True, exist_ok=True)
            conf = self.run_dir / "ptp4l.conf"
            conf.write_text(ptp_profile.ptp4l_config(profile, self.uds))
            ifaces = [arg for i in profile["interfaces"] for arg in ("-i", i)]
            self.argv["ptp4l"] = ["ptp4l", "-f", str(conf), *ifaces, "-m"]
            if ptp_profile.needs_phc2sys(profile):
                # -a: follow ptp4l's ports; -r: also the system clock (twice: a grandmaster feeds the PHC from it)
                auto = ["-a", "-r", "-r"] if profile["role"] == "grandmaster" else ["-a", "-r"]
                self.argv["phc2sys"] = ["phc2sys", *auto, "-z", self.uds, "-m"]
            self.restarts = {name: 0 for name in self.argv}
            for name in self.argv:
                self._start(name)
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="linuxptp", daemon=True)
            self._thread.start()

    def _start(self, name: str) -> None:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = open(self.run_dir / f"{name}.log", "ab")
        try:
            self.procs[name] = subprocess.Popen(prefix + self.argv[name], stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            out.close()
        log.info("started %s (pid %d)", name, self.procs[name].pid)

    def _stop_all(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = {}

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            with self._lock:
                for name, proc in list(self.procs.items()):
                    if proc.poll() is not None:
                        log.warning("%s exited with %s; restarting", name, proc.returncode)
                        self.restarts[name] += 1
                        self._start(name)
                running = "ptp4l" in self.procs
            clock = self._query() if running else {}
            with self._lock:
                self.clock = clock
            if self.state_file:
                self.write_state(self.state_file)

    def _query(self) -> dict:
        client = str(self.run_dir / f"pmc.{os.getpid()}.sock")
        try:
            out = subprocess.run(["pmc", "-u", "-b", "0", "-s", self.uds, "-i", client, *_QUERIES],
                                 capture_output=True, text=True, timeout=10).stdout
            return {**parse_pmc(out), "updated_at": time.time()} if "RESPONSE" in out else {}
        except (OSError, subprocess.TimeoutExpired, KeyError, ValueError) as exc:
            log.warning("pmc: %s", exc)
            return {}

    def state(self) -> dict:
        with self._lock:
            processes = {name: {"pid": proc.pid if proc.poll() is None else None, "restarts": self.restarts[name],
                                "last_line": self._last_line(name)} for name, proc in self.procs.items()}
            return {"processes": processes, "clock": dict(self.clock)}

    def _last_line(self, name: str) -> str:
        """The daemon's newest log line: why it stopped, or what it did last."""
        try:
            with open(self.run_dir / f"{name}.log", "rb") as fh:
                fh.seek(max(fh.seek(0, 2) - 512, 0))
                lines = fh.read().decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else ""
        except OSError:
            return ""

    def write_state(self, path: Path) -> None:
        """What `egret status` shows, for a reader that cannot reach the API (no token); written when it changed."""
        text = json.dumps({"profile": self.profile, **self.state()})
        if text != self._written:
            path.write_text(text)
            self._written = text

    def close(self) -> None:
        # the watcher first: a pmc of its own must not outlive the service, nor a daemon be restarted after this
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            self._stop_all()
