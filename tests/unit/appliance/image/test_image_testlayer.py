"""The fw_cfg hook units are a test-only layer: images/build.py never writes them; testlayer adds them to a copy."""
import inspect
import subprocess
from pathlib import Path

from appliance.image import gpt
from images import build, files, testlayer

UNITS = ["egret-identity.service", "egret-firstboot.service"]


def make_root_disk(tmp: Path) -> Path:
    tree = tmp / "tree"
    (tree / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True)
    (tree / "usr/lib").mkdir(parents=True)
    fs = tmp / "root.ext4"
    subprocess.run(["truncate", "-s", "8M", str(fs)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(fs)], check=True)
    disk = tmp / "disk.raw"
    subprocess.run(["truncate", "-s", "12M", str(disk)], check=True)
    subprocess.run(["sfdisk", "-q", str(disk)], input=b"label: gpt\nstart=1MiB, size=9MiB, name=root-a\n", check=True)
    subprocess.run(["dd", f"if={fs}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc", "status=none"], check=True)
    return disk


def debugfs(fs: str, request: str) -> str:
    return subprocess.run(["debugfs", "-R", request, fs], capture_output=True, text=True, check=True).stdout


def test_build_writes_no_hook_units():
    code = [ln for ln in inspect.getsource(build).splitlines() if not ln.strip().startswith("#")]
    assert not [ln for ln in code if "hook" in ln.lower()]
    assert not hasattr(files, "HOOK_SCRIPT") and not hasattr(files, "hook_unit")


def test_layered_copy_has_enabled_hooks_and_the_original_has_none(tmp_path):
    disk = make_root_disk(tmp_path)
    before = disk.read_bytes()
    out = testlayer.layered_image(disk, tmp_path / "test.raw", UNITS)
    offset = gpt.by_name(str(out), "root-a").start
    layered, original = f"{out}?offset={offset}", f"{disk}?offset={offset}"
    assert testlayer.has_hooks(layered) and not testlayer.has_hooks(original)
    assert disk.read_bytes() == before  # the flashable image is untouched
    stat = debugfs(layered, f"stat {testlayer.HOOK_PATH}")
    assert "Mode:  0755" in stat and "User:     0" in stat
    unit = debugfs(layered, "cat /etc/systemd/system/egret-hook-early.service")
    assert f"ExecStart={testlayer.HOOK_PATH} early" in unit and "Before=egret-identity.service" in unit
    wants = debugfs(layered, "ls /etc/systemd/system/multi-user.target.wants")
    assert "egret-hook-early.service" in wants and "egret-hook-late.service" in wants
    assert "qemu_fw_cfg/by_name/opt/egret/$1/raw" in debugfs(layered, f"cat {testlayer.HOOK_PATH}")
