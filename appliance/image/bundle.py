"""Create A/B update bundles: a tar of root.img.zst, kernel(s), initrd(s), egret-update.json, SHA256SUMS, its signature."""
from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from appliance.image import signing
from appliance.image.progress import sha256_file


def make_bundle(out: Path, root_img: Path, kernel: Path, initrd: Path, version: str, arch: str = "amd64",
                cmdline: str = "", key=None, rt: tuple[Path, Path] | None = None) -> Path:
    """key: the Ed25519 private key that signs SHA256SUMS (None only for tests of unsigned bundles); rt: the
    PREEMPT_RT kernel and its initrd, when the image carries them."""
    with tempfile.TemporaryDirectory(prefix="egret-bundle-") as tmp:
        work = Path(tmp)
        zst = work / "root.img.zst"
        subprocess.run(["zstd", "-q", "-T0", "-3", str(root_img), "-o", str(zst)], check=True)
        members = {"root.img.zst": zst, "vmlinuz": Path(kernel), "initrd.img": Path(initrd)}
        manifest = {"version": version, "arch": arch, "kernel": "vmlinuz", "initrd": "initrd.img", "cmdline": cmdline,
                    "root": {"file": "root.img.zst", "size": root_img.stat().st_size,
                             "sha256": sha256_file(root_img)}}
        if rt is not None:
            members.update({"vmlinuz-rt": Path(rt[0]), "initrd-rt.img": Path(rt[1])})
            manifest.update({"kernel_rt": "vmlinuz-rt", "initrd_rt": "initrd-rt.img"})
        (work / "egret-update.json").write_text(json.dumps(manifest, indent=1))
        members["egret-update.json"] = work / "egret-update.json"
        (work / "SHA256SUMS").write_text("".join(f"{sha256_file(p)}  {n}\n" for n, p in members.items()))
        members["SHA256SUMS"] = work / "SHA256SUMS"
        if key is not None:
            (work / "SHA256SUMS.sig").write_bytes(signing.sign(key, (work / "SHA256SUMS").read_bytes()))
            members["SHA256SUMS.sig"] = work / "SHA256SUMS.sig"
        tmp_out = Path(str(out) + ".tmp")
        with tarfile.open(tmp_out, "w") as tar:
            for name, path in members.items():
                tar.add(path, arcname=name)
        tmp_out.rename(out)
    return out
