"""Fernet key repository, token round trips, rotation, tampering, expiry and revocation events."""
import os
import time

import pytest

from appliance.revocation import RevocationList
from appliance.tokens import KeyRepository, TokenData, TokenError, TokenProvider, new_audit_id


def _data(**kw):
    now = time.time()
    base = dict(user_id="u1", methods=["password"], expires_at=now + 60, issued_at=now,
                audit_ids=[new_audit_id()], project_id="p1", project_domain_id="default", roles=["member"])
    base.update(kw)
    return TokenData(**base)


@pytest.fixture
def provider(tmp_path):
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3)
    assert repo.setup() is True
    assert repo.setup() is False
    return TokenProvider(repo, RevocationList(tmp_path / "keys" / "revocations.jsonl", 3600))


def test_round_trip(provider):
    token = provider.issue(_data())
    got = provider.validate(token)
    assert (got.user_id, got.project_id, got.roles, got.scope) == ("u1", "p1", ["member"], "project")
    # readable by the services' shared group, never by others
    assert oct(os.stat(provider.keys.path / "1").st_mode & 0o777) == "0o640"
    assert oct(os.stat(provider.keys.path).st_mode & 0o7777) == "0o2750"


def test_rotation_keeps_recent_tokens_valid(provider):
    old = provider.issue(_data())
    provider.keys.rotate()              # staged key becomes primary
    new = provider.issue(_data())
    assert provider.validate(old).user_id == "u1"
    provider.keys.rotate()              # with 3 active keys, the key that signed `old` is dropped
    assert provider.validate(new).user_id == "u1"
    with pytest.raises(TokenError):
        provider.validate(old)


def test_rotation_seen_by_another_process_view(tmp_path, provider):
    other = TokenProvider(KeyRepository(provider.keys.path), provider.revocations)
    other.validate(provider.issue(_data()))
    provider.keys.rotate()
    provider.keys.rotate()
    assert other.validate(provider.issue(_data())).user_id == "u1"


def test_tampered_and_garbage_tokens(provider):
    token = provider.issue(_data())
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    for bad in (flipped, "", "x" * 5000, "not-a-token", token[:40]):
        with pytest.raises(TokenError):
            provider.validate(bad)


def test_expired(provider):
    token = provider.issue(_data(expires_at=time.time() - 1))
    with pytest.raises(TokenError, match="expired"):
        provider.validate(token)


def test_revocation_by_user_hits_only_older_tokens(provider):
    before = provider.issue(_data())
    other_user = provider.issue(_data(user_id="u2"))
    provider.revocations.revoke(user_id="u1")
    time.sleep(0.001)
    after = provider.issue(_data())
    with pytest.raises(TokenError, match="revoked"):
        provider.validate(before)
    assert provider.validate(other_user).user_id == "u2"
    assert provider.validate(after).user_id == "u1"


def test_revocation_by_user_and_project_needs_both(provider):
    p1 = provider.issue(_data(project_id="p1"))
    p2 = provider.issue(_data(project_id="p2"))
    provider.revocations.revoke(user_id="u1", project_id="p1")
    with pytest.raises(TokenError):
        provider.validate(p1)
    assert provider.validate(p2).project_id == "p2"


def test_revocation_by_audit_chain(provider):
    data = _data()
    token = provider.issue(data)
    rescoped = provider.issue(_data(audit_ids=[new_audit_id(), data.audit_ids[0]]))
    provider.revocations.revoke(audit_chain_id=data.audit_ids[0])
    for t in (token, rescoped):
        with pytest.raises(TokenError):
            provider.validate(t)


def test_revocation_file_is_read_by_a_second_reader_and_survives_torn_lines(tmp_path, provider):
    token = provider.issue(_data())
    reader = RevocationList(provider.revocations.path, 3600)
    assert reader.is_revoked(provider.decode(token)) is False
    provider.revocations.revoke(user_id="u1")
    with open(provider.revocations.path, "a") as fh:
        fh.write('{"user_id": "tor')   # a crash mid-append
    assert reader.is_revoked(provider.decode(token)) is True


def test_prune_drops_only_expired_events(tmp_path):
    rl = RevocationList(tmp_path / "r.jsonl", max_token_lifetime=0)
    rl.revoke(user_id="old")
    rl.retention = -1            # everything is now older than the retention window
    assert rl.prune() == 1
    assert rl.events() == []
    with pytest.raises(ValueError):
        rl.revoke(nonsense="x")


def test_private_repository_is_owner_only(tmp_path):
    repo = KeyRepository(tmp_path / "credential-keys", private=True)
    assert not repo.is_set_up() and repo.setup() and repo.is_set_up()
    assert oct(os.stat(repo.path).st_mode & 0o7777) == "0o700"
    assert {oct(os.stat(repo.path / n).st_mode & 0o777) for n in ("0", "1")} == {"0o600"}


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root (the build machines run as root)")
def test_root_rotating_a_service_repository_keeps_the_service_owner(tmp_path):
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    for path in (repo.path, *repo.path.iterdir()):  # as if the service user (nobody here) had set it up
        os.chown(path, 65534, 65534)
    new = repo.rotate()
    for name in ("0", str(new)):
        st = os.stat(repo.path / name)
        assert (st.st_uid, st.st_gid) == (65534, 65534), name
