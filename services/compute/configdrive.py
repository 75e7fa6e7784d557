"""Config drives: the metadata tree as the files of an ISO9660 volume labelled config-2 (the driver writes it)."""
from __future__ import annotations

import json

from services.compute.drivers import disks
from services.compute.metadata import OPENSTACK_VERSIONS, ec2_meta, meta_data, network_data, user_data

LABEL = "config-2"


def config_drive_files(inst) -> dict:
    """{path inside the drive: content} for a server, as Nova lays out its config drive."""
    common = {"meta_data.json": json.dumps(meta_data(inst)), "network_data.json": json.dumps(network_data(inst)),
              "vendor_data.json": "{}", "vendor_data2.json": "{}"}
    data = user_data(inst)
    files: dict = {}
    for version in OPENSTACK_VERSIONS:
        for name, content in common.items():
            files[f"openstack/{version}/{name}"] = content
        if data is not None:
            files[f"openstack/{version}/user_data"] = data
    files["ec2/latest/meta-data.json"] = json.dumps(ec2_meta(inst))
    if data is not None:
        files["ec2/latest/user-data"] = data
    files[".label"] = LABEL + "\n"
    return files


def build_config_drive(inst, dest: str) -> None:
    """The config drive as one local ISO file (bench and tools; a server's build asks its driver)."""
    disks.write_iso(config_drive_files(inst), dest, LABEL)
