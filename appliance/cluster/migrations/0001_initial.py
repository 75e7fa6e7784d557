"""Nodes and join tokens."""


def up(db):
    from appliance.cluster import models
    with db.bind_ctx(models.ALL):
        db.create_tables(models.ALL)
