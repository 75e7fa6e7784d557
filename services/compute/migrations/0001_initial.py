"""The first compute schema, frozen as DDL, with the default flavors an operator expects."""
from pathlib import Path

import peewee

from appliance.db import run_ddl, utcnow

# Frozen on purpose: the schema the first release created, written out (0001_initial.sql) instead of
# derived from the live models, so a later migration always starts from a fixed point. Never edit it.
DDL = (Path(__file__).parent / "0001_initial.sql").read_text()

DEFAULT_FLAVORS = [
    # (id, name, ram MiB, vcpus, disk GiB)
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("6", "m1.nano", 256, 1, 0),
]

# the flavor table's columns as the baseline made them (not the live model, which may grow)
FLAVOR = peewee.Table("flavor", ("id", "created_at", "updated_at", "name", "ram", "vcpus", "disk", "swap",
                                 "ephemeral", "rxtx_factor", "is_public", "disabled", "description", "extra_specs"))


def up(db):
    run_ddl(db, DDL)
    now = utcnow()
    FLAVOR.insert([
        {"id": fid, "created_at": now, "updated_at": now, "name": name, "ram": ram, "vcpus": vcpus, "disk": disk,
         "swap": 0, "ephemeral": 0, "rxtx_factor": 1.0, "is_public": True, "disabled": False, "description": None,
         "extra_specs": "{}"}
        for fid, name, ram, vcpus, disk in DEFAULT_FLAVORS]).execute(db)
