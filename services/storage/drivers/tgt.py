"""iSCSI target driver: volumes exported by tgtd (Linux SCSI target framework, userspace: no LIO kernel modules)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from services.storage.drivers.base import DriverError

# tgtd's IPC directory is compiled in (/var/run/tgtd/socket.<control port>); the appliance's storage unit gets it
# as its RuntimeDirectory
IPC_DIR = Path("/var/run/tgtd")
LUN = 1
COMMAND_TIMEOUT = 15
START_TIMEOUT = 10
# tgtadm hands each value to tgtd inside one "key=value,key=value" string: a comma or '=' in a value would add a
# parameter of the caller's choosing (an initiator name "x,initiator-address=ALL" opens the ACL to everyone)
_UNSAFE = re.compile(r"[,=\s\x00-\x1f\x7f]")
_TARGET = re.compile(r"^Target (\d+): (\S+)$")
_PORTAL = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})")
MAX_CONTROL_PORT = 32767   # tgtd -C refuses more
_WILDCARDS = ("0.0.0.0", "[::]")


def _which(name: str) -> str | None:
    # service users' PATH often lacks the sbin directories, where Debian installs tgtd and tgtadm
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def check_value(field: str, value: str) -> str:
    """A value tgtadm may pass on to tgtd unchanged (see _UNSAFE); DriverError otherwise."""
    if not isinstance(value, str) or not value or _UNSAFE.search(value):
        raise DriverError(f"refusing {field} {value!r}: empty, or a comma, '=', space or control character")
    return value


def parse_show(text: str) -> dict[str, dict]:
    """`tgtadm --mode target --op show` → {iqn: {"tid", "path" (LUN 1's backing file), "initiators", "accounts"}}."""
    targets: dict[str, dict] = {}
    current = section = lun = None
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        text_ = line.strip()
        if indent == 0:
            m = _TARGET.match(text_)
            current = None
            if m:
                current = {"tid": int(m.group(1)), "path": None, "initiators": [], "accounts": []}
                targets[m.group(2)] = current
            continue
        if current is None:
            continue
        if indent == 4:
            section, lun = text_.rstrip(":"), None
        elif section == "LUN information" and indent == 8 and text_.startswith("LUN: "):
            lun = int(text_.split(":", 1)[1])
        elif section == "LUN information" and lun == LUN and text_.startswith("Backing store path: "):
            current["path"] = text_.split(": ", 1)[1]
        elif section == "Account information" and indent == 8 and not text_.endswith("(outgoing)"):
            # an outgoing (mutual CHAP) account is listed as "name (outgoing)"; ours are incoming only
            current["accounts"].append(text_)
        elif section == "ACL information" and indent == 8:
            current["initiators"].append(text_)
    return targets


class TgtTarget:
    """One tgtd, reached on its control port, serving iSCSI on one portal (host:port).

    The daemon is started on demand and never stopped here: on the appliance it lives in the storage unit's
    cgroup (stopped with the unit), under the dev supervisor in the unit's process group (stopped with it)."""

    name = "tgt"

    def __init__(self, portal: str, control_port: int = 0, log_path: Path | None = None,
                 tgtd: str | None = None, tgtadm: str | None = None):
        self.portal = portal
        try:
            self.control_port = int(control_port)
        except (TypeError, ValueError):
            self.control_port = -1   # available() says why
        self.log_path = Path(log_path) if log_path else None
        self.tgtd = tgtd if tgtd is not None else (_which("tgtd") or "")
        self.tgtadm = tgtadm if tgtadm is not None else (_which("tgtadm") or "")
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None

    # --- the daemon ---------------------------------------------------------------------------------------------
    def available(self) -> str | None:
        for name, path in (("tgtd", self.tgtd), ("tgtadm", self.tgtadm)):
            if not path or not (os.path.isfile(path) and os.access(path, os.X_OK)):
                return f"{name} is not installed (Debian package tgt)"
        if not 0 <= self.control_port <= MAX_CONTROL_PORT:
            return f"iscsi_control_port is not a tgtd control port (0-{MAX_CONTROL_PORT})"
        # the portal goes into tgtd's "--iscsi portal=..." option string, itself comma-separated
        m = _PORTAL.fullmatch(self.portal) if isinstance(self.portal, str) else None
        if m is None or not 0 < int(m.group(1)) < 65536:
            return f"iscsi_portal {str(self.portal)[:60]!r} is not host:port"
        return None

    def _tgtadm(self, *args: str, lld: bool = True, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.tgtadm, "-C", str(self.control_port), *(["--lld", "iscsi"] if lld else []), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DriverError(f"tgtadm {' '.join(args[:4])} timed out after {COMMAND_TIMEOUT}s "
                              f"(tgtd on control port {self.control_port} does not answer)") from None
        except OSError as exc:
            raise DriverError(f"cannot run tgtadm: {exc}") from None
        if check and proc.returncode != 0:
            raise DriverError(_message(proc))
        return proc

    def answers(self) -> bool:
        """True when a tgtd serves this control port."""
        if self.available():
            return False
        try:
            return self._tgtadm("--mode", "sys", "--op", "show", lld=False, check=False).returncode == 0
        except DriverError:
            return False

    def portals(self) -> list[str]:
        out = self._tgtadm("--mode", "portal", "--op", "show").stdout
        return [line.split(":", 1)[1].strip().rsplit(",", 1)[0] for line in out.splitlines()
                if line.startswith("Portal:")]

    def _serves_portal(self, exact: bool) -> bool:
        listed = self.portals()
        if self.portal in listed:
            return True
        port = self.portal.rsplit(":", 1)[-1]
        return not exact and any(p in (f"{w}:{port}" for w in _WILDCARDS) for p in listed)

    def ensure_running(self) -> bool:
        """Start tgtd unless it answers; True when this call started it (it holds no targets then)."""
        reason = self.available()
        if reason:
            raise DriverError(reason)
        with self.lock:
            if self.answers():
                # a tgtd someone else started may listen on every address (tgtd's default portal)
                if not self._serves_portal(exact=False):
                    raise DriverError(f"the tgtd on control port {self.control_port} does not listen on "
                                      f"{self.portal} (it listens on {', '.join(self.portals()) or 'nothing'})")
                return False
            self._spawn()
            return True

    def _spawn(self) -> None:
        if self.process is not None:
            self.process.poll()    # reap a tgtd that died
        try:
            IPC_DIR.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass   # the appliance's unit makes it (RuntimeDirectory); tgtd's own error says what is wrong
        log = self.log_path or Path(os.devnull)
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [self.tgtd, "-f", "--control-port", str(self.control_port), "--iscsi", f"portal={self.portal}"]
        # not a session of its own: it stays in the service's process group (the dev supervisor stops the group)
        # and cgroup (systemd stops the unit's), so it never outlives the service that owns its targets
        with open(log, "ab") as out:
            try:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        close_fds=True)
            except OSError as exc:
                raise DriverError(f"cannot start tgtd: {exc}") from None
        self.process = proc
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.answers():
                break
            if proc.poll() is not None:
                raise DriverError(f"tgtd exited with status {proc.returncode} at start: {self._log_tail()}")
            if time.monotonic() > deadline:
                self._kill(proc)
                raise DriverError(f"tgtd did not answer on control port {self.control_port} within "
                                  f"{START_TIMEOUT}s: {self._log_tail()}")
            time.sleep(0.05)
        if proc.poll() is not None:
            return   # another process's tgtd won the control port: it is the one that answers
        # tgtd keeps running when it cannot bind its portal, and then listens on every address at port 3260
        # instead: an exported volume must never be served where the operator did not say
        if not self._serves_portal(exact=True):
            listed = self.portals()
            self._kill(proc)
            raise DriverError(f"tgtd could not listen on {self.portal} (it got {', '.join(listed) or 'nothing'}): "
                              f"{self._log_tail()}")

    def _kill(self, proc: subprocess.Popen) -> None:
        # tgtd ignores SIGTERM
        try:
            proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        """Kill the tgtd this object started (tests; a restarted service starts its own)."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self._kill(self.process)
            self.process = None

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no log)"
        lines = [ln for ln in self.log_path.read_text(errors="replace").splitlines() if ln.strip()]
        return " | ".join(lines[-4:]) or "(empty log)"

    # --- targets ------------------------------------------------------------------------------------------------
    def targets(self) -> dict[str, dict]:
        """What tgtd exports now; nothing when no tgtd answers (a daemon that is not running exports nothing)."""
        if not self.answers():
            return {}
        return parse_show(self._tgtadm("--mode", "target", "--op", "show").stdout)

    def export(self, target_iqn: str, path: str, initiator_iqn: str, username: str, password: str) -> None:
        """Serve `path` as LUN 1 of `target_iqn` to `initiator_iqn` logging in with CHAP username/password."""
        for field, value in (("target name", target_iqn), ("path", path), ("initiator name", initiator_iqn),
                             ("CHAP user", username), ("CHAP password", password)):
            check_value(field, value)
        if not os.path.isabs(path):
            raise DriverError(f"refusing relative path {path!r}: tgtd resolves it from its own directory")
        with self.lock:
            existing = self.targets().get(target_iqn)
            if existing is not None:
                if existing["path"] != path:
                    raise DriverError(f"target {target_iqn} already exports {existing['path']}, not {path}")
                if existing["initiators"] == [initiator_iqn] and existing["accounts"] == [username]:
                    return
                # same volume, another initiator or account: made again from scratch, never widened
                self._delete(existing["tid"], existing["accounts"])
            for _ in range(5):
                taken = {t["tid"] for t in self.targets().values()}
                tid = next(n for n in range(1, len(taken) + 2) if n not in taken)
                proc = self._tgtadm("--mode", "target", "--op", "new", "--tid", str(tid),
                                    "--targetname", target_iqn, check=False)
                if proc.returncode == 0:
                    break
                if target_iqn in self.targets():
                    raise DriverError(f"target {target_iqn} appeared while it was being made")
                # another process took the tid between our look and our create: look again
            else:
                raise DriverError(f"no free target id for {target_iqn}: {_message(proc)}")
            try:
                self._tgtadm("--mode", "logicalunit", "--op", "new", "--tid", str(tid), "--lun", str(LUN),
                             "-b", path, "--bstype", "rdwr")
                self._tgtadm("--mode", "target", "--op", "bind", "--tid", str(tid), "--initiator-name",
                             initiator_iqn)
                made = self._tgtadm("--mode", "account", "--op", "new", "--user", username, "--password",
                                    password, check=False)
                if made.returncode != 0:
                    # an account of this name is a leftover of this attachment's earlier export: its password
                    # is unknown, so it is replaced
                    self._tgtadm("--mode", "account", "--op", "delete", "--user", username, check=False)
                    self._tgtadm("--mode", "account", "--op", "new", "--user", username, "--password", password)
                self._tgtadm("--mode", "account", "--op", "bind", "--tid", str(tid), "--user", username)
            except BaseException:
                self._delete(tid, [username])
                raise

    def _delete(self, tid: int, accounts: list[str]) -> None:
        self._tgtadm("--mode", "target", "--op", "delete", "--force", "--tid", str(tid), check=False)
        for user in accounts:
            self._tgtadm("--mode", "account", "--op", "delete", "--user", user, check=False)

    def unexport(self, target_iqn: str) -> None:
        """Force the target away (sessions are cut) with its accounts; no error if it is not there."""
        with self.lock:
            found = self.targets().get(target_iqn)
            if found is None:
                return
            self._tgtadm("--mode", "target", "--op", "delete", "--force", "--tid", str(found["tid"]))
            for user in found["accounts"]:
                self._tgtadm("--mode", "account", "--op", "delete", "--user", user, check=False)


def _message(proc: subprocess.CompletedProcess) -> str:
    text = (proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}")
    return text.removeprefix("tgtadm: ")
