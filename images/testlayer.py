"""The test-only layer: QEMU fw_cfg hook units added to a copy of the image (or an update's root) for the tests.

The image users flash has no unit that runs host-supplied code as root. The image tests (and bench/boot.py) lay
these files into a copy of the built disk offline with debugfs (no mounts, no loop devices): a hook script and
egret-hook-{early,late}.service, enabled, which run the QEMU fw_cfg blob opt/egret/<name> as a shell script.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from appliance.image import gpt

HOOK_PATH = "/usr/lib/egret/hook"

# only a hypervisor that passes -fw_cfg opt/egret/<name> can run them; the early hook runs before the services
# (e.g. headless answers), the late one after the boot assessment
HOOK_SCRIPT = """\
#!/bin/sh
# run the QEMU fw_cfg blob opt/egret/$1 (if any) as a shell script; its output goes to the console via kmsg
modprobe qemu_fw_cfg 2>/dev/null
f=/sys/firmware/qemu_fw_cfg/by_name/opt/egret/$1/raw
[ -r "$f" ] || exit 0
cp "$f" /run/egret-hook-$1.sh
echo "EGRET-HOOK $1 start" > /dev/kmsg
sh /run/egret-hook-$1.sh 2>&1 | while IFS= read -r line; do echo "EGRET-HOOK $1: $line" > /dev/kmsg; done
echo "EGRET-HOOK $1 done" > /dev/kmsg
"""


def hook_unit(name: str, service_units: list[str]) -> str:
    units = " ".join(service_units)
    order = (f"After=egret-state.service\nBefore={units} egret-console.service egret-health.service"
             if name == "early" else "After=egret-health.service egret-console.service")
    return f"""\
[Unit]
Description=Egret QEMU test hook ({name}; test layer, not in the flashed image)
{order}

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=EGRET_STATE_DIR=/var/lib/egret EGRET_CONFIG_DIR=/etc/egret PATH=/opt/egret/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart={HOOK_PATH} {name}
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
"""


def add_to_ext4(fs: str, service_units: list[str]) -> None:
    """Write the hook and its two enabled units into the ext4 root at fs (a file, or 'disk.raw?offset=N')."""
    with tempfile.TemporaryDirectory(prefix="egret-testlayer-") as tmp:
        work = Path(tmp)
        (work / "hook").write_text(HOOK_SCRIPT)
        cmds = ["mkdir /usr/lib/egret", f"write {work / 'hook'} {HOOK_PATH}", f"sif {HOOK_PATH} mode 0100755",
                f"sif {HOOK_PATH} uid 0", f"sif {HOOK_PATH} gid 0"]
        for name in ("early", "late"):
            unit = f"egret-hook-{name}.service"
            (work / unit).write_text(hook_unit(name, service_units))
            dest = f"/etc/systemd/system/{unit}"
            cmds += [f"write {work / unit} {dest}", f"sif {dest} mode 0100644", f"sif {dest} uid 0",
                     f"sif {dest} gid 0",
                     f"symlink /etc/systemd/system/multi-user.target.wants/{unit} {dest}"]
        (work / "cmds").write_text("\n".join(cmds) + "\n")
        r = subprocess.run(["debugfs", "-w", "-f", str(work / "cmds"), fs], capture_output=True, text=True)
        # "mkdir: File exists" is fine (a second layer); anything else is not
        errors = [ln for ln in r.stderr.splitlines() if "rror" in ln or "not found" in ln.lower()]
        if r.returncode != 0 or errors:
            raise RuntimeError(f"debugfs on {fs} failed: {r.stderr[-800:]}")


def layered_image(raw: Path, out: Path, service_units: list[str]) -> Path:
    """A sparse copy of the built disk with the test layer in slot a's root (the original stays flashable)."""
    tmp = out.with_name(out.name + ".tmp")
    subprocess.run(["cp", "--sparse=always", "--reflink=auto", str(raw), str(tmp)], check=True)
    root = gpt.by_name(str(tmp), "root-a")
    add_to_ext4(f"{tmp}?offset={root.start}", service_units)
    shutil.move(str(tmp), str(out))
    return out


def has_hooks(fs: str) -> bool:
    """Whether an ext4 root (file or 'disk.raw?offset=N') carries the hook units (the flashed image must not)."""
    r = subprocess.run(["debugfs", "-R", "ls -l /etc/systemd/system", fs], capture_output=True, text=True)
    return "egret-hook-" in r.stdout
