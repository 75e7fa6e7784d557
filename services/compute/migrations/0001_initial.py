"""The first compute schema, with the default flavors an operator expects."""
from services.compute import models

DEFAULT_FLAVORS = [
    # (id, name, ram MiB, vcpus, disk GiB)
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("6", "m1.nano", 256, 1, 0),
]


def up(db):
    with db.bind_ctx(models.ALL_MODELS):
        db.create_tables(models.ALL_MODELS)
        for fid, name, ram, vcpus, disk in DEFAULT_FLAVORS:
            models.Flavor.create(id=fid, name=name, ram=ram, vcpus=vcpus, disk=disk)
