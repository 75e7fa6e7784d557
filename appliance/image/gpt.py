"""Read a GPT (disk image file or block device) with sfdisk; find partitions by label."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

SECTOR = 512


@dataclass(frozen=True)
class Partition:
    number: int
    name: str
    uuid: str
    start: int  # bytes
    size: int  # bytes
    type: str


def partitions(disk: str) -> list[Partition]:
    out = subprocess.run(["sfdisk", "--json", disk], check=True, capture_output=True, text=True).stdout
    table = json.loads(out)["partitiontable"]
    sector = int(table.get("sectorsize", SECTOR))
    parts = []
    for p in table.get("partitions", []):
        node = p["node"]
        digits = ""
        while node and node[-1].isdigit():
            digits = node[-1] + digits
            node = node[:-1]
        parts.append(Partition(number=int(digits), name=p.get("name", ""), uuid=p.get("uuid", "").lower(),
                               start=p["start"] * sector, size=p["size"] * sector, type=p.get("type", "").upper()))
    return parts


def by_name(disk: str, name: str) -> Partition:
    for p in partitions(disk):
        if p.name == name:
            return p
    raise LookupError(f"{disk}: no partition named {name!r}")


def set_name(disk: str, number: int, name: str) -> None:
    # sfdisk re-reads the table of a busy disk partition by partition (BLKPG); its warning is harmless
    subprocess.run(["sfdisk", "--part-label", disk, str(number), name], check=True, capture_output=True)
