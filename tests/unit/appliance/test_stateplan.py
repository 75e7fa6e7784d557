"""The state dir's ownership plan (issue 12): who owns each path, its mode, and the revocation list's move."""
import os
import stat
import time

import pytest

from appliance import stateplan
from appliance.config import GUEST_FILES, PRIVATE_STATE, Settings
from appliance.manifest import load_manifest
from appliance.revocation import RevocationList
from appliance.tokens import (
    KeyRepository,
    TokenData,
    TokenError,
    TokenProvider,
    new_audit_id,
)
from images import files

RULES = stateplan.plan(load_manifest())


def _want(tmp_path, rel, *, is_dir=False, mode=0o644):
    path = tmp_path / "probe"
    if is_dir:
        path.mkdir(mode=mode)
    else:
        path.write_text("")
    path.chmod(mode)
    try:
        owner, want = stateplan.wanted(rel, os.lstat(path), RULES)
    finally:
        path.rmdir() if is_dir else path.unlink()
    return owner, want


def test_token_keys_are_roots_revocations_identitys_both_group_read_only(tmp_path):
    # no unit writes the token keys: root creates and rotates them (egret bootstrap, egret keys rotate)
    assert _want(tmp_path, "fernet-keys", is_dir=True, mode=0o770) == ("root", 0o2750)
    assert _want(tmp_path, "fernet-keys/1", mode=0o660) == ("root", 0o640)
    assert _want(tmp_path, "revocations", is_dir=True, mode=0o770) == ("egret-identity", 0o2750)
    assert _want(tmp_path, "revocations/revocations.jsonl", mode=0o660) == ("egret-identity", 0o640)


def test_each_database_belongs_to_its_unit_and_no_group_writes_it(tmp_path):
    for service, user in (("identity", "egret-identity"), ("storage", "egret-storage"),
                          ("compute", "egret-compute"), ("network", "egret-network"),
                          ("cluster", "egret-cluster"), ("federation", "egret-federation")):
        assert _want(tmp_path, f"{service}.db", mode=0o660) == (user, 0o640)
        assert _want(tmp_path, f"{service}.db-wal", mode=0o660) == (user, 0o640)
    # the wizard reads identity.db (is setup done?); a WAL reader writes the -shm index, which holds no rows
    assert _want(tmp_path, "identity.db-shm", mode=0o660) == ("egret-identity", 0o660)
    assert _want(tmp_path, "storage.db-shm", mode=0o660) == ("egret-storage", 0o640)


def test_unit_subdirs_service_credentials_and_the_shared_places(tmp_path):
    assert _want(tmp_path, "network", is_dir=True, mode=0o2770) == ("egret-network", 0o2750)
    assert _want(tmp_path, "compute/instances/x/disk", mode=0o660) == ("egret-compute", 0o640)
    assert _want(tmp_path, "storage/images/tool", mode=0o770) == ("egret-storage", 0o750)
    # each unit reads only its own service user's password
    assert _want(tmp_path, "secrets/compute-service-user.json", mode=0o640) == ("egret-compute", 0o600)
    # compute and network both read the metadata proxy secret: group-readable, whoever created it keeps it
    assert _want(tmp_path, "secrets/metadata-proxy-secret", mode=0o660) == (None, 0o640)
    # units create files in the top and in secrets/ (setgid), but cannot rename what others own (sticky);
    # others may pass through the top (not list it) on their way to the guests' files
    assert _want(tmp_path, "", is_dir=True, mode=0o2770) == (None, 0o3771)
    assert _want(tmp_path, "secrets", is_dir=True, mode=0o2770) == (None, 0o3770)
    # everything else (clouds.yaml, the box's TLS key, the configuration) is root's, group read-only
    assert _want(tmp_path, "clouds.yaml", mode=0o660) == (None, 0o640)
    assert _want(tmp_path, "tls", is_dir=True, mode=0o2770) == (None, 0o2750)
    # a disk the wizard gave to storage is storage's; the directory of mountpoints stays root's
    assert _want(tmp_path, "disks/sdb", is_dir=True, mode=0o2770) == ("egret-storage", 0o2750)
    assert _want(tmp_path, "disks/sdb/volumes/volume-1", mode=0o660) == ("egret-storage", 0o640)
    assert _want(tmp_path, "disks", is_dir=True, mode=0o2770) == (None, 0o2750)
    # the wizard (root) owns its own subdir: no rule hands it to a service user
    assert _want(tmp_path, "firstboot/setup-done", mode=0o660)[0] is None


def test_apply_leaves_private_state_alone_and_never_follows_links(tmp_path):
    state = tmp_path / "state"
    for name in PRIVATE_STATE:
        (state / name).mkdir(parents=True, mode=0o700)
        (state / name / "key").write_text("k")
        (state / name / "key").chmod(0o600)
    (state / "link").symlink_to("/etc/hostname")
    before = stat.S_IMODE(os.stat("/etc/hostname").st_mode)
    stateplan.apply(state, RULES, group="no-such-group-here")
    for name in PRIVATE_STATE:
        assert stat.S_IMODE(os.stat(state / name).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(state / name / "key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat("/etc/hostname").st_mode) == before


def test_libvirts_qemu_user_reaches_the_guests_files_and_nothing_else(tmp_path):
    """libvirt gives a running guest's disk to its qemu user (in no Egret group): others may pass through the top
    to the guests' files, which the plan leaves to NodeFiles and libvirt; nothing else gives others a bit."""
    state = tmp_path / "state"
    guest = state / GUEST_FILES / "server-1"
    guest.mkdir(parents=True)
    (guest / "disk").write_text("")
    (guest / "disk").chmod(0o644)     # libvirt's label for a running guest: its qemu user's file
    guest.chmod(0o755)
    (state / GUEST_FILES).chmod(0o700)
    (state / "compute").mkdir()
    (state / "compute" / "tool").write_text("")
    (state / "compute" / "tool").chmod(0o755)
    (state / "clouds.yaml").write_text("")
    (state / "clouds.yaml").chmod(0o644)
    stateplan.apply(state, RULES, group="no-such-group-here")
    mode = lambda p: stat.S_IMODE(os.lstat(p).st_mode)  # noqa: E731
    assert (mode(state), mode(state / GUEST_FILES)) == (0o3771, 0o755)
    assert mode(guest) == 0o755 and mode(guest / "disk") == 0o644
    assert (mode(state / "compute"), mode(state / "compute" / "tool"), mode(state / "clouds.yaml")) == \
        (0o2750, 0o750, 0o640)


def test_the_box_and_the_nix_modules_run_the_plan():
    assert "ExecStart=/opt/egret/bin/python -m appliance.stateplan /var/lib/egret" in files.STATE_UNIT
    # the wizard reloads it (a restart would restart every unit that Requires= it)
    assert "ExecReload=/opt/egret/bin/python -m appliance.stateplan /var/lib/egret" in files.STATE_UNIT
    assert "find /var/lib/egret" not in files.STATE_UNIT
    core = open(os.path.join(os.path.dirname(stateplan.__file__), "..", "nix", "modules", "core.nix")).read()
    assert 'script = "${cfg.package}/bin/egret-state /var/lib/egret";' in core
    assert 'ExecReload = "${cfg.package}/bin/egret-state /var/lib/egret";' in core
    assert "chmod g+rwX" not in core


def _token(provider, user_id="u1"):
    now = time.time()
    data = TokenData(user_id=user_id, methods=["password"], expires_at=now + 3600, issued_at=now - 1,
                     audit_ids=[new_audit_id()], project_id="p1")
    return provider.issue(data)


def test_revocations_live_outside_the_key_repository(tmp_path):
    settings = Settings(state_dir=tmp_path)
    assert settings.revocation_file.parent != settings.key_repository
    assert settings.revocation_file.parent.name == "revocations"


def test_a_legacy_list_is_honoured_then_moved_by_identitys_first_write(tmp_path):
    settings = Settings(state_dir=tmp_path)
    KeyRepository(settings.key_repository).setup()
    validator = TokenProvider.from_settings(settings)
    token = _token(validator)
    # an older box: identity revoked u1 into the key repository
    RevocationList(settings.legacy_revocation_file, 3600).revoke(user_id="u1")
    with pytest.raises(TokenError):  # every validating unit still sees it
        validator.validate(token)
    reader = RevocationList(settings.revocation_file, 3600, legacy=settings.legacy_revocation_file)
    assert [e["user_id"] for e in reader.events()] == ["u1"]
    # identity's next revocation moves the list out and appends to it
    writer = RevocationList(settings.revocation_file, 3600, legacy=settings.legacy_revocation_file)
    writer.revoke(user_id="u2")
    assert not settings.legacy_revocation_file.exists()
    assert [e["user_id"] for e in reader.events()] == ["u1", "u2"]
    assert stat.S_IMODE(os.stat(settings.revocation_file).st_mode) & 0o022 == 0


def test_fix_moves_the_legacy_list_and_merges_with_a_new_one(tmp_path):
    settings = Settings(state_dir=tmp_path)
    KeyRepository(settings.key_repository).setup()
    RevocationList(settings.revocation_file, 3600).revoke(user_id="new")
    RevocationList(settings.legacy_revocation_file, 3600).revoke(user_id="old")
    stateplan.fix(tmp_path, group="no-such-group-here")
    assert not settings.legacy_revocation_file.exists()
    users = sorted(e["user_id"] for e in RevocationList(settings.revocation_file, 3600).events())
    assert users == ["new", "old"]
    assert stat.S_IMODE(os.stat(settings.key_repository).st_mode) == 0o2750
    assert stat.S_IMODE(os.stat(settings.revocation_file.parent).st_mode) == 0o2750


def test_prune_keeps_the_list_group_readable_and_not_group_writable(tmp_path):
    path = tmp_path / "revocations" / "revocations.jsonl"
    revs = RevocationList(path, 0)
    revs.retention = -1  # every event is already expired
    old = os.umask(0o007)  # the units' UMask=
    try:
        revs.revoke(user_id="u1")
        revs.revoke(user_id="u2")
        assert revs.prune() == 2
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
