"""Issue 12 as filed, against a real `egret up`: a project member's hostile VMDK and qcow2 through the unmodified
openstack CLI never become an active image or a volume, and no byte of the token keys leaves the key repository;
a safe image still becomes a volume through the sandboxed qemu-img of the running storage service."""
from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.e2e


def _files_holding(root, needle: bytes, skip) -> list[str]:
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if not p.startswith(str(skip)) and os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as fh:
                    if needle in fh.read():
                        hits.append(p)
    return hits


def test_a_member_cannot_turn_the_fernet_keys_into_a_volume(cloud, tmp_path):
    mallory = cloud.add_user("mallory", "attackers", "member")
    keys = cloud.state_dir / "fernet-keys"
    key = (keys / "0").read_bytes()[:32]
    evil_vmdk = tmp_path / "evil.vmdk"
    evil_vmdk.write_text('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                         f'createType="monolithicFlat"\n\nRW 1 FLAT "{keys / "0"}" 0\n')
    evil_qcow2 = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(keys / "0"), "-F", "raw",
                    str(evil_qcow2)], check=True)
    for name, fmt, path, reason in (("evil-vmdk", "vmdk", evil_vmdk, "vmdk images are accepted only"),
                                    ("evil-qcow2", "qcow2", evil_qcow2, "backing file")):
        r = mallory.openstack("image", "create", "--disk-format", fmt, "--container-format", "bare",
                              "--file", str(path), name, check=False)
        assert r.returncode != 0 and "400" in r.stderr and reason in r.stderr.lower(), r.stderr
        # the service left it queued without data; openstacksdk then deletes an image whose upload failed
        assert [i for i in mallory.openstack_json("image", "list", "--long") if i["Name"] == name
                and i["Status"] != "queued"] == []
        v = mallory.openstack("volume", "create", "--image", name, "--size", "1", f"stolen-{fmt}", check=False)
        assert v.returncode != 0, v.stdout
    assert mallory.openstack_json("volume", "list") == []
    # the key's bytes are in the key repository and nowhere else under the state dir
    assert _files_holding(cloud.state_dir, key, skip=keys) == []


def test_a_safe_image_still_becomes_a_volume_through_the_sandbox(cloud, tmp_path):
    user = cloud.add_user("carol", "builders", "member")
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"EGRET-SAFE-IMAGE" + b"\0" * (1024 * 1024 - 16))
    good = tmp_path / "good.vmdk"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
                    str(raw), str(good)], check=True)
    img = user.openstack_json("image", "create", "--disk-format", "vmdk", "--container-format", "bare",
                              "--file", str(good), "good")
    assert img["status"] == "active"
    vol = user.openstack_json("volume", "create", "--image", "good", "--size", "1", "from-good")
    for _ in range(120):
        vol = user.openstack_json("volume", "show", "from-good")
        if vol["status"] != "creating":
            break
    assert vol["status"] == "available", vol
    files = list((cloud.state_dir / "storage" / "volumes").glob(f"volume-{vol['id']}.*"))
    assert len(files) == 1
    out = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-q", "-f", files[0].suffix[1:], "-O", "raw", str(files[0]), str(out)],
                   check=True)
    assert out.read_bytes()[:16] == b"EGRET-SAFE-IMAGE"
