"""Fixtures: a namespace with a veth pair, loop devices; all removed afterwards."""

import pytest

from fb_int_helpers import Netns, sh


@pytest.fixture
def netns():
    ns = Netns().create()
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture
def loopdev(tmp_path):
    """A 64 MiB file on a loop device (partition scanning on); detached afterwards."""
    made = []

    def make(size_mb=64):
        img = tmp_path / f"disk{len(made)}.img"
        with open(img, "wb") as fh:
            fh.truncate(size_mb * 1024 * 1024)
        dev = sh("losetup", "--find", "--show", "--partscan", str(img)).stdout.strip()
        made.append(dev)
        return dev, img

    yield make
    for dev in made:
        sh("umount", "-R", str(tmp_path / "mnt"), check=False)
        for line in open("/proc/self/mounts").read().splitlines():
            if line.split()[0].startswith(dev):
                sh("umount", line.split()[1], check=False)
        sh("losetup", "-d", dev, check=False)
