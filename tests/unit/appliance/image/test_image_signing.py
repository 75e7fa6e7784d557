"""Signed A/B bundles: `egret update apply` refuses unsigned, tampered and foreign-signed bundles before writing."""
import argparse
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.image import signing, slots
from appliance.image.cli import cmd_update_apply
from tests.unit.appliance.image.test_image_update import MiB, box, build_key, bundle, slot_bytes  # noqa: F401


def untouched(box, before: bytes) -> None:
    assert box["disk"].read_bytes() == before
    assert sorted(p.name for p in (box["esp"] / "loader/entries").iterdir()) == ["egret-1-a.conf"]
    assert not (box["esp"] / "EFI/egret/b").exists()


def flip(path: Path, member: str, at: int = 0) -> None:
    """One byte of one member's data flipped in place (the tar stays well-formed)."""
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as tar:
        data[tar.getmember(member).offset_data + at] ^= 0x01
    path.write_bytes(bytes(data))


def apply(box, path):
    return slots.apply(str(path), disk=str(box["disk"]), esp=box["esp"], current="a", progress=False)


def test_valid_signed_bundle_is_applied_and_names_its_signer(box, build_key):
    res = apply(box, bundle(box["tmp"], b"v" * MiB))
    assert res["slot"] == "b" and res["signed_by"] == signing.key_id(build_key.public_key())
    assert slot_bytes(box["disk"], "root-b", 3) == b"vvv"
    with tarfile.open(box["tmp"] / "u.tar") as tar:
        assert "SHA256SUMS.sig" in tar.getnames()


def test_unsigned_bundle_is_refused(box):
    path = bundle(box["tmp"], b"u" * MiB, key=None)
    before = box["disk"].read_bytes()
    with pytest.raises(slots.UpdateError, match="bundle is not signed; nothing written"):
        apply(box, path)
    untouched(box, before)


@pytest.mark.parametrize("member,match", [("root.img.zst", "checksum mismatch for root.img.zst"),
                                          ("egret-update.json", "checksum mismatch for egret-update.json"),
                                          ("SHA256SUMS", "signature does not verify"),
                                          ("SHA256SUMS.sig", "signature does not verify")])
def test_one_flipped_byte_anywhere_is_refused(box, member, match):
    path = bundle(box["tmp"], bytes(range(256)) * 4096)
    flip(path, member, at=5)
    before = box["disk"].read_bytes()
    with pytest.raises(slots.UpdateError, match=match):
        apply(box, path)
    untouched(box, before)


def test_bundle_re_checksummed_after_tampering_is_refused(box):
    """An attacker who edits the payload and rewrites SHA256SUMS to match still lacks the key."""
    path = bundle(box["tmp"], b"t" * MiB)
    evil = box["tmp"] / "evil.tar"
    with tarfile.open(path) as src, tarfile.open(evil, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "vmlinuz":
                data = b"evil kernel"
            if m.name == "SHA256SUMS":
                lines = [ln for ln in data.decode().splitlines() if not ln.endswith("  vmlinuz")]
                data = ("\n".join(lines) + f"\n{hashlib.sha256(b'evil kernel').hexdigest()}  vmlinuz\n").encode()
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    before = box["disk"].read_bytes()
    with pytest.raises(slots.UpdateError, match="signature does not verify"):
        apply(box, evil)
    untouched(box, before)


def test_foreign_signed_bundle_is_refused(box):
    path = bundle(box["tmp"], b"f" * MiB, key=Ed25519PrivateKey.generate())
    before = box["disk"].read_bytes()
    with pytest.raises(slots.UpdateError, match="any trusted key"):
        apply(box, path)
    untouched(box, before)


def test_box_without_trusted_keys_refuses_everything(box, monkeypatch, tmp_path):
    monkeypatch.setattr(signing, "TRUSTED_DIR", tmp_path / "none")
    path = bundle(box["tmp"], b"n" * MiB)
    with pytest.raises(slots.UpdateError, match="trusts no update signing key"):
        apply(box, path)


def test_cli_refuses_foreign_bundle_with_exit_1(box, capsys):
    path = bundle(box["tmp"], b"c" * MiB, key=Ed25519PrivateKey.generate())
    before = box["disk"].read_bytes()
    args = argparse.Namespace(source=str(path), current="a", disk=str(box["disk"]), esp=box["esp"], tries=3,
                              console="ttyS0", quiet=True, json=True)
    assert cmd_update_apply(args, None) == 1
    err = capsys.readouterr().err
    assert "update refused" in err and "any trusted key" in err
    untouched(box, before)


def test_build_key_is_private_and_reused(tmp_path):
    path = tmp_path / "k" / "update-signing.key"
    first = signing.ensure_build_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and path.with_suffix(".pub").exists()
    again = signing.ensure_build_key(path)
    assert signing.key_id(first.public_key()) == signing.key_id(again.public_key())
