"""Initial schema: every Neutron resource table."""


def up(db):
    from services.network import models
    with db.bind_ctx(models.ALL):
        db.create_tables(models.ALL, safe=True)
