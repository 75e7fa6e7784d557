"""Initial storage schema: images, volumes, snapshots, types, attachments, quotas, buckets, objects, uploads."""


def up(db):
    from services.storage import models
    with db.bind_ctx(models.ALL):
        db.create_tables(models.ALL)
