"""The first federation schema: enrolment tokens, sites, revoked certificates."""
from services.federation import models


def up(db):
    with db.bind_ctx(models.ALL_MODELS):
        db.create_tables(models.ALL_MODELS)
