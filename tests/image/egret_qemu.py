"""QEMU/TCG + OVMF harness for the image tests and bench/boot.py: boot, read the serial log, wait for markers."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# per image architecture: emulator, machine and UEFI firmware (OVMF for x86_64, AAVMF for aarch64)
MACHINES = {
    "amd64": {"qemu": "qemu-system-x86_64", "machine": "q35", "code": OVMF_CODE, "vars": OVMF_VARS},
    "arm64": {"qemu": "qemu-system-aarch64", "machine": "virt", "code": "/usr/share/AAVMF/AAVMF_CODE.fd",
              "vars": "/usr/share/AAVMF/AAVMF_VARS.fd"},
}
MARKER_RE = re.compile(r"\[\s*(?P<ts>\d+\.\d+)\] (?P<text>EGRET-[A-Z]+ .*)")


class BootTimeout(AssertionError):
    pass


class Guest:
    """One TCG guest on a qcow2 overlay of the built image (the image itself is never written)."""

    def __init__(self, image: Path, workdir: Path, name: str = "g", *, mem: int = 1536, smp: int = 1,
                 hostfwd: dict | None = None, fw_cfg: dict | None = None, share: Path | None = None,
                 socket_net: tuple | None = None, mac_index: int = 1, extra_disks: list | None = None,
                 arch: str = "amd64"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name, self.image = name, Path(image).resolve()
        self.disk = self.workdir / f"{name}.qcow2"
        self.vars = self.workdir / f"{name}-vars.fd"
        self.log = self.workdir / f"{name}.serial.log"
        self.mem, self.smp, self.hostfwd = mem, smp, hostfwd or {}
        self.fw_cfg, self.share, self.socket_net = dict(fw_cfg or {}), share, socket_net
        self.mac_index, self.extra_disks = mac_index, extra_disks or []
        self.machine = MACHINES[arch]
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        if not self.disk.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image),
                            str(self.disk)], check=True)
            shutil.copyfile(self.machine["vars"], self.vars)

    def set_hook(self, name: str, script: str) -> None:
        """fw_cfg blob opt/egret/<name>: the image's hook unit runs it (early: before services; late: after)."""
        path = self.workdir / f"{self.name}-hook-{name}.sh"
        path.write_text(script)
        self.fw_cfg[name] = path

    def command(self) -> list[str]:
        m = self.machine
        cmd = [m["qemu"], "-accel", "tcg,thread=multi", "-cpu", "max", "-machine", m["machine"],
               "-m", str(self.mem), "-smp", str(self.smp), "-nodefaults", "-display", "none", "-vga", "none",
               "-serial", f"file:{self.log}", "-monitor", "none",
               "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={m['code']}",
               "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
               "-drive", f"file={self.disk},format=qcow2,if=virtio,discard=unmap",
               "-device", "virtio-rng-pci"]
        for i, disk in enumerate(self.extra_disks):
            cmd += ["-drive", f"file={disk},format=raw,if=virtio,readonly=on"]
        fwd = "".join(f",hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in self.hostfwd.items())
        cmd += ["-netdev", f"user,id=n0,net=10.0.2.0/24{fwd}",
                "-device", f"virtio-net-pci,netdev=n0,mac=52:54:00:12:34:{self.mac_index:02x}"]
        if self.socket_net:
            mode, port = self.socket_net
            cmd += ["-netdev", f"socket,id=n1,{mode}=127.0.0.1:{port}",
                    "-device", f"virtio-net-pci,netdev=n1,mac=52:54:00:aa:00:{self.mac_index:02x}"]
        for name, path in self.fw_cfg.items():
            cmd += ["-fw_cfg", f"name=opt/egret/{name},file={path}"]
        if self.share:
            cmd += ["-virtfs", f"local,path={self.share},mount_tag=egretshare,security_model=none,readonly=on"]
        return cmd

    def start(self) -> "Guest":
        self.log.write_bytes(b"")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / f"{self.name}.qemu.err", "wb"),
                                     start_new_session=True)
        return self

    def text(self) -> str:
        return self.log.read_bytes().decode(errors="replace") if self.log.exists() else ""

    def markers(self) -> list[tuple[float, str]]:
        return [(float(m["ts"]), m["text"].rstrip()) for m in MARKER_RE.finditer(self.text())]

    def wait_for(self, pattern: str, timeout: float = 600, after: int = 0) -> re.Match:
        """First match of `pattern` in the serial log's complete lines past character offset `after`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            # only whole lines: a trailing (.*) or (\S+) read while the guest is still writing the line
            # would match half of it (seen: half a JSON health answer, failing its assertion)
            m = rx.search(text[:text.rfind("\n") + 1], after)
            if m:
                return m
            if self.proc and self.proc.poll() is not None:
                raise BootTimeout(f"{self.name}: qemu exited ({self.proc.returncode}) before /{pattern}/\n"
                                  + self.tail())
            if time.monotonic() > deadline:
                raise BootTimeout(f"{self.name}: no /{pattern}/ after {timeout:.0f}s\n" + self.tail())
            time.sleep(0.5)

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-n:])

    def wait_exit(self, timeout: float = 180) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
