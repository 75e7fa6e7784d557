"""Key pairs beyond create/get: a user's listing and deletion."""
from __future__ import annotations

from services.compute.models import KeyPair


def list_for(user_id: str) -> list[KeyPair]:
    return list(KeyPair.select().where(KeyPair.user_id == user_id).order_by(KeyPair.name))


def delete(keypair: KeyPair) -> None:
    keypair.delete_instance()
