"""Credential blobs are encrypted at rest with private credential keys; legacy rows are resealed; rotation."""
from __future__ import annotations

import json
import stat

import peewee
import pytest

from services.identity import models, rotate_credential_keys, sealing


def raw_blobs() -> list[str]:
    """What the database itself holds in credential.blob (bypassing the field's decryption)."""
    models.database.connect(reuse_if_open=True)
    try:
        # aliased, or peewee would decrypt a column named like the field
        return [row[0] for row in models.Credential.select(peewee.SQL("blob").alias("raw")).tuples()]
    finally:
        models.database.close()


def make_ec2(env) -> dict:
    pid = env.project("p1")
    uid = env.user("u1", project_id=pid)
    tok = env.token("u1", "User-Pass-1", "p1")
    return env.ok("POST", f"/v3/users/{uid}/credentials/OS-EC2", tok, json={"tenant_id": pid})["credential"] | {
        "uid": uid, "tok": tok}


def test_secret_is_not_in_the_database_but_the_api_returns_it(env):
    made = make_ec2(env)
    [stored] = raw_blobs()
    assert made["secret"] not in stored and made["access"] not in stored
    assert stored.startswith(sealing.FERNET_PREFIX)
    listed = env.ok("GET", f"/v3/users/{made['uid']}/credentials/OS-EC2", made["tok"])["credentials"]
    assert [(c["access"], c["secret"]) for c in listed] == [(made["access"], made["secret"])]


def test_credential_keys_are_private_to_their_owner(env):
    repo = env.settings.credential_key_repository
    assert stat.S_IMODE(repo.stat().st_mode) == 0o700
    keys = [p for p in repo.iterdir() if p.name.isdigit()]
    assert len(keys) == 2 and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys)


def test_plaintext_rows_from_before_sealing_are_sealed_at_start(env):
    made = make_ec2(env)
    legacy = json.dumps({"access": made["access"], "secret": made["secret"]})
    models.database.connect(reuse_if_open=True)
    models.Credential.update({models.Credential.blob: peewee.Value(legacy, converter=False)}).execute()
    models.database.close()
    assert raw_blobs() == [legacy]
    from services.identity import create_app
    client = create_app(env.settings).test_client()
    [stored] = raw_blobs()
    assert stored.startswith(sealing.FERNET_PREFIX) and made["secret"] not in stored
    got = client.get(f"/v3/users/{made['uid']}/credentials/OS-EC2", headers={"X-Auth-Token": made["tok"]})
    assert [c["secret"] for c in got.get_json()["credentials"]] == [made["secret"]]


def test_rotation_reencrypts_so_old_keys_can_be_dropped(env):
    made = make_ec2(env)
    first = raw_blobs()
    for _ in range(4):  # more rotations than active keys: without re-encryption the first key is gone
        primary, rows = rotate_credential_keys(env.settings)
        assert rows == 1
    assert raw_blobs() != first and primary == 5
    listed = env.ok("GET", f"/v3/users/{made['uid']}/credentials/OS-EC2", made["tok"])["credentials"]
    assert [c["secret"] for c in listed] == [made["secret"]]


def test_a_row_sealed_with_a_lost_key_says_so(env):
    make_ec2(env)
    for index in (0, 1):  # lose every key, then set up a fresh repository
        (env.settings.credential_key_repository / str(index)).unlink()
    sealing.install(env.settings)
    models.database.connect(reuse_if_open=True)
    try:
        with pytest.raises(RuntimeError, match="no longer in"):
            list(models.Credential.select())
    finally:
        models.database.close()
