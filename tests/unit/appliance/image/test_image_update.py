"""A/B update logic on regular files: verify before writing, write the inactive slot, counted entries, bless."""
import io
import json
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest


from appliance.image import gpt, signing, slots
from appliance.image.bundle import make_bundle
from appliance.image.progress import sha256_file

MiB = 1024 * 1024
ROOT_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"


def make_disk(path: Path, slot_mb: int = 4) -> dict:
    path.write_bytes(b"")
    subprocess.run(["truncate", "-s", f"{1 + 2 + 2 * slot_mb + 2 + 1}M", str(path)], check=True)
    uuids = {n: str(uuid.uuid4()) for n in ("esp", "root-a", "_empty", "data")}
    table = ("label: gpt\n"
             f"start=1MiB, size=2MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp, uuid={uuids['esp']}\n"
             f"size={slot_mb}MiB, type={ROOT_TYPE}, name=root-a, uuid={uuids['root-a']}\n"
             f"size={slot_mb}MiB, type={ROOT_TYPE}, name=_empty, uuid={uuids['_empty']}\n"
             f"size=2MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=data, uuid={uuids['data']}\n")
    subprocess.run(["sfdisk", "-q", str(path)], input=table.encode(), check=True)
    return uuids


@pytest.fixture(autouse=True)
def build_key(tmp_path, monkeypatch):
    """This test's build machine: its key signs the bundles, its public half is the box's only trusted key."""
    key = signing.ensure_build_key(tmp_path / "keys" / "update-signing.key")
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "build.pub").write_bytes(signing.public_pem(key.public_key()))
    monkeypatch.setattr(signing, "TRUSTED_DIR", trusted)
    return key


@pytest.fixture
def box(tmp_path):
    disk = tmp_path / "disk.raw"
    uuids = make_disk(disk)
    esp = tmp_path / "esp"
    (esp / "loader" / "entries").mkdir(parents=True)
    (esp / "loader" / "entries" / "egret-1-a.conf").write_text(slots.entry_text("1.0", "a", uuids["root-a"], "ttyS0"))
    a = gpt.by_name(str(disk), "root-a")
    with open(disk, "r+b") as fh:  # slot a holds "the running system"
        fh.seek(a.start)
        fh.write(b"A" * a.size)
    return {"disk": disk, "esp": esp, "uuids": uuids, "tmp": tmp_path}


def bundle(tmp: Path, payload: bytes, version: str = "2.0", name: str = "u.tar", key="build", rt=False) -> Path:
    """rt: the bundle carries a PREEMPT_RT kernel and initrd too."""
    root = tmp / f"root-{version}.img"
    root.write_bytes(payload)
    for kind in ("vmlinuz", "initrd", "vmlinuz-rt", "initrd-rt"):
        (tmp / kind).write_bytes(f"{kind}-{version}".encode())
    if key == "build":
        key = signing.ensure_build_key(tmp / "keys" / "update-signing.key")
    return make_bundle(tmp / name, root, tmp / "vmlinuz", tmp / "initrd", version, key=key,
                       rt=(tmp / "vmlinuz-rt", tmp / "initrd-rt") if rt else None)


def slot_bytes(disk: Path, name: str, n: int) -> bytes:
    p = gpt.by_name(str(disk), name)
    with open(disk, "rb") as fh:
        fh.seek(p.start)
        return fh.read(n)


def test_apply_writes_inactive_slot_and_counted_entry(box):
    payload = bytes(range(256)) * 8192  # 2 MiB
    result = slots.apply(str(bundle(box["tmp"], payload)), disk=str(box["disk"]), esp=box["esp"], current="a",
                         tries=2, progress=False)
    assert result["slot"] == "b" and result["entry"] == "egret-2-b+2.conf" and result["version"] == "2.0"
    assert slot_bytes(box["disk"], "root-b", len(payload)) == payload  # renamed from _empty
    assert slot_bytes(box["disk"], "root-a", 4) == b"AAAA"  # the running slot is untouched
    assert (box["esp"] / "EFI/egret/b/vmlinuz").read_bytes() == b"vmlinuz-2.0"
    entry = (box["esp"] / "loader/entries/egret-2-b+2.conf").read_text()
    assert f"root=PARTUUID={box['uuids']['_empty']}" in entry and "egret.slot=b" in entry
    order = slots.boot_order(box["esp"])
    assert [e.id for e in order] == ["egret-2-b", "egret-1-a"]  # the new slot boots next


def test_profile_args_go_into_every_entry_and_on_with_an_update(box):
    entries = box["esp"] / "loader/entries"
    before = (entries / "egret-1-a.conf").read_text()
    args = ["isolcpus=managed_irq,domain,2-3", "nohz_full=2-3", "hugepagesz=2M", "hugepages=64"]
    assert slots.set_profile(box["esp"], args, rt=False) == (["egret-1-a.conf"], [])
    assert slots.set_profile(box["esp"], args, rt=False) == ([], [])            # idempotent
    text = (entries / "egret-1-a.conf").read_text()
    # the slot's own options line stays as it was; the profile is a second options line the loader appends
    assert text.startswith(before) and slots.profile_args(text) == args
    assert text.count("\noptions ") == 2
    # an update's new entry carries the running slot's profile
    slots.apply(str(bundle(box["tmp"], b"x" * MiB)), disk=str(box["disk"]), esp=box["esp"], current="a",
                progress=False)
    new = (entries / "egret-2-b+3.conf").read_text()
    assert slots.profile_args(new) == args and "egret.slot=b" in new
    # a changed profile replaces the line everywhere; an empty one removes it
    changed, _ = slots.set_profile(box["esp"], ["hugepages=8"], rt=False)
    assert sorted(changed) == ["egret-1-a.conf", "egret-2-b+3.conf"]
    assert slots.profile_args((entries / "egret-1-a.conf").read_text()) == ["hugepages=8"]
    slots.set_profile(box["esp"], [], rt=False)
    assert (entries / "egret-1-a.conf").read_text() == before


def test_the_profile_boots_the_rt_kernel_and_updates_carry_it(box):
    esp, entries = box["esp"], box["esp"] / "loader/entries"
    before = (entries / "egret-1-a.conf").read_text()
    # slot a has no RT kernel: the entry keeps the generic one and says so
    assert slots.set_profile(esp, ["nohz_full=1"], rt=True) == (["egret-1-a.conf"], ["egret-1-a.conf"])
    assert slots.entry_kernel((entries / "egret-1-a.conf").read_text()) == "generic"
    (esp / "EFI/egret/a").mkdir(parents=True)
    for name in slots.KERNEL_FILES["rt"]:
        (esp / "EFI/egret/a" / name).write_bytes(b"rt-1.0")
    assert slots.set_profile(esp, ["nohz_full=1"], rt=True) == (["egret-1-a.conf"], [])
    text = (entries / "egret-1-a.conf").read_text()
    assert "linux /EFI/egret/a/vmlinuz-rt\ninitrd /EFI/egret/a/initrd-rt.img\n" in text
    # an update with an RT kernel: the new slot gets both pairs and boots the RT one, as the running slot does
    res = slots.apply(str(bundle(box["tmp"], b"x" * MiB, rt=True)), disk=str(box["disk"]), esp=esp, current="a",
                      progress=False)
    assert res["kernel"] == "rt"
    assert (esp / "EFI/egret/b/vmlinuz-rt").read_bytes() == b"vmlinuz-rt-2.0"
    assert (esp / "EFI/egret/b/initrd-rt.img").read_bytes() == b"initrd-rt-2.0"
    new = (entries / "egret-2-b+3.conf").read_text()
    assert slots.entry_kernel(new) == "rt" and slots.profile_args(new) == ["nohz_full=1"]
    # an update without one: slot a's old RT kernel goes (it would not match the new root) and the entry boots
    # the generic kernel, with the profile's arguments still
    res = slots.apply(str(bundle(box["tmp"], b"y" * MiB, "3.0")), disk=str(box["disk"]), esp=esp, current="b",
                      progress=False)
    assert res["kernel"] == "generic" and not slots.has_rt_kernel(esp, "a")
    newer = (entries / "egret-3-a+3.conf").read_text()
    assert slots.entry_kernel(newer) == "generic" and slots.profile_args(newer) == ["nohz_full=1"]
    assert slots.set_profile(esp, ["nohz_full=1"], rt=True) == ([], ["egret-3-a+3.conf"])
    # the profile off: generic kernels, no arguments
    slots.set_profile(esp, [], rt=False)
    assert all(slots.entry_kernel(e.path.read_text()) == "generic" and not slots.profile_args(e.path.read_text())
               for e in slots.entries(esp))
    assert (entries / "egret-3-a+3.conf").read_text().replace("3.0", "1.0") == before


def test_exhausted_entry_falls_back_to_old_slot(box):
    slots.apply(str(bundle(box["tmp"], b"x" * MiB)), disk=str(box["disk"]), esp=box["esp"], current="a", tries=1,
                progress=False)
    entries = box["esp"] / "loader/entries"
    # what systemd-boot does on the single try: rename +1 → +0-1
    (entries / "egret-2-b+1.conf").rename(entries / "egret-2-b+0-1.conf")
    assert [e.id for e in slots.boot_order(box["esp"])] == ["egret-1-a", "egret-2-b"]


def test_mark_good_drops_counter_from_efivar(box, tmp_path):
    slots.apply(str(bundle(box["tmp"], b"x" * MiB)), disk=str(box["disk"]), esp=box["esp"], current="a",
                progress=False)
    entries = box["esp"] / "loader/entries"
    (entries / "egret-2-b+3.conf").rename(entries / "egret-2-b+2-1.conf")
    efivars = tmp_path / "efivars"
    efivars.mkdir()
    value = "\\loader\\entries\\egret-2-b+2-1.conf\0".encode("utf-16-le")
    (efivars / f"LoaderBootCountPath-{slots.LOADER_GUID}").write_bytes(b"\x06\0\0\0" + value)
    assert slots.mark_good(box["esp"], efivars) == "egret-2-b.conf"
    assert (entries / "egret-2-b.conf").exists() and not (entries / "egret-2-b+2-1.conf").exists()
    assert slots.mark_good(box["esp"], efivars) is None  # already blessed


def test_second_update_replaces_the_other_slot_entries(box):
    slots.apply(str(bundle(box["tmp"], b"b" * MiB, "2.0", "u2.tar")), disk=str(box["disk"]), esp=box["esp"],
                current="a", progress=False)
    entries = box["esp"] / "loader/entries"
    (entries / "egret-2-b+3.conf").rename(entries / "egret-2-b.conf")  # booted and blessed
    res = slots.apply(str(bundle(box["tmp"], b"c" * MiB, "3.0", "u3.tar")), disk=str(box["disk"]), esp=box["esp"],
                      current="b", progress=False)
    assert res["slot"] == "a" and res["entry"] == "egret-3-a+3.conf"
    assert sorted(p.name for p in entries.iterdir()) == ["egret-2-b.conf", "egret-3-a+3.conf"]
    assert slot_bytes(box["disk"], "root-a", 3) == b"ccc"


def test_tampered_bundle_is_refused_before_writing(box):
    path = bundle(box["tmp"], b"z" * MiB)
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as tar:
        member = tar.getmember("vmlinuz")
        data[member.offset_data] ^= 0xFF
    path.write_bytes(bytes(data))
    before = box["disk"].read_bytes()
    with pytest.raises(slots.UpdateError, match="checksum mismatch for vmlinuz"):
        slots.apply(str(path), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)
    assert box["disk"].read_bytes() == before
    assert sorted(p.name for p in (box["esp"] / "loader/entries").iterdir()) == ["egret-1-a.conf"]


def test_unlisted_member_and_missing_sums_are_refused(box):
    good = bundle(box["tmp"], b"z" * MiB)
    extra = box["tmp"] / "extra.tar"
    with tarfile.open(good) as src, tarfile.open(extra, "w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
        info = tarfile.TarInfo("evil.sh")
        info.size = 3
        dst.addfile(info, io.BytesIO(b"rm\n"))
    with pytest.raises(slots.UpdateError, match="evil.sh is not listed"):
        slots.apply(str(extra), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)
    nosums = box["tmp"] / "nosums.tar"
    with tarfile.open(good) as src, tarfile.open(nosums, "w") as dst:
        for m in src.getmembers():
            if m.name != "SHA256SUMS":
                dst.addfile(m, src.extractfile(m))
    with pytest.raises(slots.UpdateError, match="lacks SHA256SUMS"):
        slots.apply(str(nosums), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)


def test_too_large_root_is_refused(box):
    with pytest.raises(slots.UpdateError, match="larger than slot b"):
        slots.apply(str(bundle(box["tmp"], b"y" * (5 * MiB))), disk=str(box["disk"]), esp=box["esp"], current="a",
                    progress=False)
    assert slot_bytes(box["disk"], "_empty", 1) == b"\0"


def test_not_a_bundle_and_disk_image_without_checksum(box, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    with pytest.raises(slots.UpdateError, match="checksum file"):
        slots.apply(str(junk), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)
    with pytest.raises(slots.UpdateError, match="no such file"):
        slots.apply(str(tmp_path / "nope"), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)


def test_disk_image_source(box, tmp_path):
    """A full `make image` disk (root-a + ESP kernel) is also an update, checked against its .sha256."""
    src = tmp_path / "new.raw"
    make_disk(src)
    esp_img = tmp_path / "esp.vfat"
    subprocess.run(["truncate", "-s", "2M", str(esp_img)], check=True)
    subprocess.run(["mkfs.vfat", str(esp_img)], check=True, capture_output=True)
    env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(["mmd", "-i", str(esp_img), "::/EFI", "::/EFI/egret", "::/EFI/egret/a"], check=True, env=env)
    for name, data in (("vmlinuz", b"K9"), ("initrd.img", b"I9"), ("vmlinuz-rt", b"RK9"), ("initrd-rt.img", b"RI9")):
        (tmp_path / name).write_bytes(data)
        subprocess.run(["mcopy", "-i", str(esp_img), str(tmp_path / name), f"::/EFI/egret/a/{name}"], check=True,
                       env=env)
    (tmp_path / "release.json").write_text(json.dumps({"version": "9.9"}))
    subprocess.run(["mcopy", "-i", str(esp_img), str(tmp_path / "release.json"), "::/EFI/egret/release.json"],
                   check=True, env=env)
    esp_part, root_part = gpt.by_name(str(src), "esp"), gpt.by_name(str(src), "root-a")
    with open(src, "r+b") as fh:
        fh.seek(esp_part.start)
        fh.write(esp_img.read_bytes())
        fh.seek(root_part.start)
        fh.write(b"N" * root_part.size)
    (tmp_path / "new.raw.sha256").write_text(f"{sha256_file(src)}  new.raw\n")
    with pytest.raises(slots.UpdateError, match="image is not signed"):
        slots.apply(str(src), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)
    key = signing.ensure_build_key(tmp_path / "keys" / "update-signing.key")
    (tmp_path / "new.raw.sha256.sig").write_bytes(signing.sign(key, (tmp_path / "new.raw.sha256").read_bytes()))
    res = slots.apply(str(src), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)
    assert res["version"] == "9.9" and res["slot"] == "b"
    assert slot_bytes(box["disk"], "root-b", 4) == b"NNNN"
    assert (box["esp"] / "EFI/egret/b/initrd.img").read_bytes() == b"I9"
    # the disk's RT kernel comes along; the running slot boots the generic one, so the new entry does too
    assert (box["esp"] / "EFI/egret/b/vmlinuz-rt").read_bytes() == b"RK9" and res["kernel"] == "generic"
    (tmp_path / "new.raw.sha256").write_text("0" * 64 + "  new.raw\n")
    with pytest.raises(slots.UpdateError, match="signature does not verify"):  # the old signature
        slots.apply(str(src), disk=str(box["disk"]), esp=box["esp"], current="b", progress=False)
    (tmp_path / "new.raw.sha256.sig").write_bytes(signing.sign(key, (tmp_path / "new.raw.sha256").read_bytes()))
    with pytest.raises(slots.UpdateError, match="does not match"):
        slots.apply(str(src), disk=str(box["disk"]), esp=box["esp"], current="b", progress=False)


def test_slot_from_cmdline():
    assert slots.slot_from_cmdline("root=PARTUUID=x rw egret.slot=b quiet") == "b"
    with pytest.raises(slots.UpdateError):
        slots.slot_from_cmdline("root=/dev/sda1")
