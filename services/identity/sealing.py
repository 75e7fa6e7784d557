"""Credential blobs (EC2 secrets, TOTP seeds) encrypted at rest with identity's own Fernet credential keys."""
from __future__ import annotations

import peewee
from cryptography.fernet import InvalidToken

from appliance.tokens import KeyRepository

# Fernet tokens are urlsafe base64 of a 0x80 version byte: a stored value without this prefix is a
# plaintext blob written before sealing existed
FERNET_PREFIX = "gAAAAA"

_keys: KeyRepository | None = None


def credential_keys(settings) -> KeyRepository:
    return KeyRepository(settings.credential_key_repository, settings.fernet_max_active_keys, private=True)


def install(settings) -> KeyRepository:
    """Use the credential keys for every SealedTextField, creating them on first use.

    Created by the identity process itself, so on the box they belong to identity's own user and no other
    service can read them."""
    global _keys
    repo = credential_keys(settings)
    if not repo.is_set_up():
        repo.setup()
    _keys = repo
    return repo


def _repo() -> KeyRepository:
    if _keys is None:
        raise RuntimeError("credential keys are not installed (services.identity.sealing.install)")
    return _keys


class SealedTextField(peewee.TextField):
    """A text column whose database value is a Fernet token; Python code sees the plaintext."""

    def db_value(self, value):
        if value is None:
            return None
        return _repo().fernet().encrypt(value.encode()).decode()

    def python_value(self, value):
        if value is None or not value.startswith(FERNET_PREFIX):
            return value  # legacy plaintext, resealed at the next start
        try:
            return _repo().fernet().decrypt(value.encode()).decode()
        except InvalidToken:
            raise RuntimeError("a credential was sealed with a key that is no longer in "
                               f"{_repo().path}; restore that key to read it") from None


def reseal(model, field: SealedTextField, *, legacy_only: bool = False) -> int:
    """Re-encrypt rows with the primary key; returns rows written.

    All rows after a rotation (before the next one, so no row depends on a key that rotation drops);
    at every start only legacy plaintext rows."""
    fernet = _repo().fernet()
    stored_value = peewee.SQL(field.column_name)
    # aliased: peewee would run python_value (decrypt) on a result column named like the field
    raw = model.select(model.id, stored_value.alias("stored_raw")).tuples()
    if legacy_only:
        raw = raw.where(~stored_value.startswith(FERNET_PREFIX))
    count = 0
    with model._meta.database.atomic():
        for row_id, stored in raw:
            if stored is None:
                continue
            plain = fernet.decrypt(stored.encode()) if stored.startswith(FERNET_PREFIX) else stored.encode()
            fresh = fernet.encrypt(plain).decode()
            # converter=False: the value is already sealed, db_value must not encrypt it again
            model.update({field: peewee.Value(fresh, converter=False)}).where(model.id == row_id).execute()
            count += 1
    return count
