"""The first identity schema."""
from services.identity import models


def up(db):
    with db.bind_ctx(models.ALL_MODELS):
        db.create_tables(models.ALL_MODELS)
