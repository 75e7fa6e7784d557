"""`egret image write`: progress, verification, refusing disks in use (regular files and loop devices)."""
import io
import os
import subprocess
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.image import writer
from appliance.image.progress import sha256_file

MiB = 1024 * 1024


def image(tmp_path: Path, size: int = 3 * MiB, sidecar: bool = True) -> Path:
    path = tmp_path / "egret.raw"
    path.write_bytes(os.urandom(size))
    if sidecar:
        Path(str(path) + ".sha256").write_text(f"{sha256_file(path)}  egret.raw\n")
    return path


def test_write_to_file_verifies_and_reports_progress(tmp_path):
    img = image(tmp_path)
    target = tmp_path / "disk"
    target.write_bytes(b"\xff" * (4 * MiB))
    err = io.StringIO()
    result = writer.write_image(str(img), str(target), stderr=err)
    assert result["verified"] and result["bytes"] == 3 * MiB
    assert target.read_bytes()[:3 * MiB] == img.read_bytes()
    assert target.read_bytes()[3 * MiB:] == b"\xff" * MiB  # no truncation of a larger target
    assert "100.0%" in err.getvalue() and "writing" in err.getvalue() and "verifying" in err.getvalue()


def test_corrupt_image_is_refused_before_writing(tmp_path):
    img = image(tmp_path)
    Path(str(img) + ".sha256").write_text("0" * 64 + "  egret.raw\n")
    target = tmp_path / "disk"
    target.write_bytes(b"\0" * 10)
    with pytest.raises(IOError, match="does not match"):
        writer.write_image(str(img), str(target), progress=False)
    assert target.read_bytes() == b"\0" * 10


def test_missing_image_and_same_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        writer.write_image(str(tmp_path / "nope"), str(tmp_path / "t"), progress=False)
    img = image(tmp_path)
    with pytest.raises(writer.RefusedError, match="same file"):
        writer.write_image(str(img), str(img), progress=False)


def test_mountinfo_parsing_flags_system_and_mounted_partitions(tmp_path):
    """device_use against a synthetic sysfs + mountinfo: a disk whose partition holds / is a system disk."""
    sysfs = tmp_path / "sys"
    disk = sysfs / "devices/virtual/block/vdz"
    (disk / "vdz1").mkdir(parents=True)
    (disk / "vdz2").mkdir()
    (disk / "dev").write_text("7:200\n")
    (disk / "vdz1/dev").write_text("7:201\n")
    (disk / "vdz1/partition").write_text("1\n")
    (disk / "vdz2/dev").write_text("7:202\n")
    (disk / "vdz2/partition").write_text("2\n")
    (sysfs / "dev/block").mkdir(parents=True)
    for mm, rel in (("7:200", "../../devices/virtual/block/vdz"), ("7:201", "../../devices/virtual/block/vdz/vdz1"),
                    ("7:202", "../../devices/virtual/block/vdz/vdz2")):
        (sysfs / "dev/block" / mm).symlink_to(rel)
    node = tmp_path / "vdz"
    os.mknod(node, 0o600 | 0o060000, os.makedev(7, 200))
    mountinfo = ("30 1 7:201 / / rw - ext4 /dev/vdz1 rw\n"
                 "31 30 7:202 / /mnt/my\\040data rw - ext4 /dev/vdz2 rw\n"
                 "32 30 8:1 / /other rw - ext4 /dev/sda1 rw\n")
    use = writer.device_use(str(node), mountinfo=mountinfo, swaps="Filename Type\n", sys_root=sysfs)
    assert use.system == ["/"]
    assert ("vdz2", "/mnt/my data") in use.mounts and len(use.mounts) == 2
    with pytest.raises(writer.RefusedError, match="holds the running system"):
        writer.write_image(str(image(tmp_path)), str(node), progress=False, use=use)
    free = writer.device_use(str(node), mountinfo="32 30 8:1 / /other rw - ext4 /dev/sda1 rw\n",
                             swaps="Filename\n/dev/vdz2 partition 0 0 -2\n", sys_root=sysfs)
    assert free.other == ["swap on /dev/vdz2"] and free.in_use


@pytest.fixture
def loop(tmp_path):
    if os.geteuid() != 0 or not Path("/dev/loop-control").exists():
        pytest.skip("loop devices need root and /dev/loop-control")
    backing = tmp_path / "loop.img"
    backing.write_bytes(b"\0" * (8 * MiB))
    dev = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, check=True)
    node = dev.stdout.strip()
    yield node, backing
    subprocess.run(["umount", "-l", str(tmp_path / "mnt")], capture_output=True)
    subprocess.run(["losetup", "-d", node], capture_output=True)


@pytest.mark.integration
def test_write_to_loop_device_and_refuse_when_mounted(tmp_path, loop):
    node, backing = loop
    img = image(tmp_path, 2 * MiB)
    result = writer.write_image(str(img), node, progress=False)
    assert result["verified"]
    assert backing.read_bytes()[:2 * MiB] == img.read_bytes()
    # the backing file of an attached loop device is in use too
    assert "attached to" in writer.device_use(str(backing)).describe()
    subprocess.run(["mkfs.ext4", "-q", "-F", node], check=True)
    (tmp_path / "mnt").mkdir()
    mounted = subprocess.run(["mount", node, str(tmp_path / "mnt")], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {mounted.stderr.strip()}")
    before = backing.read_bytes()
    with pytest.raises(writer.RefusedError, match="mounted"):
        writer.write_image(str(img), node, progress=False)
    # --force with a wrong confirmation still writes nothing
    with pytest.raises(writer.RefusedError, match="did not match"):
        writer.write_image(str(img), node, force=True, progress=False, stdin=io.StringIO("yes\n"),
                           stderr=io.StringIO())
    assert backing.read_bytes() == before
    subprocess.run(["umount", str(tmp_path / "mnt")], check=True)
    err = io.StringIO()
    # typed confirmation on an unmounted-but-now-flagged device: force path accepts the exact device name
    use = writer.DeviceUse(mounts=[("loop", "/somewhere")])
    res = writer.write_image(str(img), node, force=True, progress=False, stdin=io.StringIO(node + "\n"), stderr=err,
                             use=use)
    assert res["verified"] and f"Type the device path ({node})" in err.getvalue()


def test_cli_refuses_without_force(tmp_path, capsys):
    img = image(tmp_path)
    target = tmp_path / "disk"
    target.write_bytes(b"")
    assert main(["image", "write", "--quiet", str(img), str(target)]) == 0
    assert target.read_bytes() == img.read_bytes()
    assert "verified" in capsys.readouterr().out
    assert main(["update", "apply", "--disk", str(target), "--esp", str(tmp_path), "--current", "a",
                 str(tmp_path / "missing.tar")]) == 1
    assert "no such file" in capsys.readouterr().err
