"""Config drives: the metadata tree as an ISO9660 volume labelled config-2, built in userspace."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from services.compute.metadata import OPENSTACK_VERSIONS, ec2_meta, meta_data, network_data, user_data


def _tool() -> list[str]:
    for name in ("genisoimage", "mkisofs"):
        if shutil.which(name):
            return [name]
    if shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs"]
    raise RuntimeError("config drives need genisoimage or xorriso (scripts/setup-debian.sh installs genisoimage)")


def build_config_drive(inst, dest: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = {"meta_data.json": json.dumps(meta_data(inst)), "network_data.json": json.dumps(network_data(inst)),
                 "vendor_data.json": "{}", "vendor_data2.json": "{}"}
        data = user_data(inst)
        for version in OPENSTACK_VERSIONS:
            d = root / "openstack" / version
            d.mkdir(parents=True)
            for name, content in files.items():
                (d / name).write_text(content)
            if data is not None:
                (d / "user_data").write_bytes(data)
        ec2 = root / "ec2" / "latest"
        ec2.mkdir(parents=True)
        (ec2 / "meta-data.json").write_text(json.dumps(ec2_meta(inst)))
        if data is not None:
            (ec2 / "user-data").write_bytes(data)
        (root / ".label").write_text("config-2\n")
        cmd = _tool() + ["-o", dest, "-ldots", "-allow-lowercase", "-allow-multidot", "-l", "-V", "config-2",
                         "-r", "-J", "-quiet", str(root)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"config drive build failed: {proc.stderr.strip()[:300]}")
