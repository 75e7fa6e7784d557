"""Issue 12 with real users: a validating unit reads the token keys and revocations but writes neither, nor identity.db."""
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from appliance import stateplan
from appliance.manifest import Unit
from appliance.revocation import RevocationList
from appliance.tokens import KeyRepository

REPO = Path(__file__).resolve().parents[3]
RUNUSER = shutil.which("runuser") or "runuser"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"),
                                reason="creates real users (useradd) and acts as them (runuser): needs root")


@pytest.fixture
def box():
    """A state dir as egret-state.service leaves it, for a test group and two test users (removed after)."""
    tag = uuid.uuid4().hex[:6]
    group, identity, storage = f"egret-test-{tag}", f"egret-test-idt-{tag}", f"egret-test-sto-{tag}"
    subprocess.run(["groupadd", "--system", group], check=True)
    made, base = [], None
    try:
        for user in (identity, storage):
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--gid", group, user], check=True)
            made.append(user)
        base = Path(tempfile.mkdtemp(prefix="egret-perm-", dir="/tmp"))
        base.chmod(0o755)  # the service users must reach the state dir
        state = base / "state"
        state.mkdir(mode=0o770)
        # what `egret bootstrap` (root) leaves: token keys, identity's database, a revocation in the old place
        KeyRepository(state / "fernet-keys").setup()
        RevocationList(state / "fernet-keys" / "revocations.jsonl", 3600).revoke(user_id="legacy-user")
        for service in ("identity", "storage"):
            with sqlite3.connect(state / f"{service}.db") as db:
                db.execute("create table role (name text)")
        units = {"identity": Unit("identity", "identity", "", "", ("identity",), identity, state_dir="identity"),
                 "storage": Unit("storage", "storage", "", "", ("image",), storage, state_dir="storage")}
        assert stateplan.fix(state, units, group) > 0
        yield {"state": state, "identity": identity, "storage": storage}
    finally:
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
        for user in made:
            subprocess.run(["userdel", user], check=False)
        subprocess.run(["groupdel", group], check=False)


def run_as(user, script, cwd):
    """sh as that user, in the state dir; returns the completed process."""
    return subprocess.run([RUNUSER, "-u", user, "--", "sh", "-c", script], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def python_as(user, code, cwd):
    return subprocess.run([RUNUSER, "-u", user, "--", sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_a_validating_unit_reads_keys_and_revocations(box):
    r = run_as(box["storage"], "cat fernet-keys/1 >/dev/null && cat revocations/revocations.jsonl", box["state"])
    assert r.returncode == 0, r.stderr
    assert "legacy-user" in r.stdout  # egret-state moved the old list out of the key repository
    assert not (box["state"] / "fernet-keys" / "revocations.jsonl").exists()
    # and it validates with them (the code every unit runs: TokenProvider's key repository, the revocation list)
    r = python_as(box["storage"], "from appliance.tokens import KeyRepository; from appliance.revocation import "
                  "RevocationList; KeyRepository('fernet-keys').fernet(); "
                  "print(RevocationList('revocations/revocations.jsonl', 3600).events()[0]['user_id'])", box["state"])
    assert r.returncode == 0 and r.stdout.strip() == "legacy-user", r.stderr


@pytest.mark.parametrize("script", [
    "touch fernet-keys/9",                                    # plant a key of its own
    "echo x >> fernet-keys/1",                                # modify the primary key
    "mv fernet-keys/1 fernet-keys/9",                         # rename a key
    "rm -f fernet-keys/0",                                    # drop the staged key
    "touch revocations/x",
    "echo '{}' >> revocations/revocations.jsonl",             # forge or hide a revocation
    "mv revocations/revocations.jsonl revocations/old",
    "mv fernet-keys keys-away",                               # the top is sticky: not its directory
    "mv identity.db identity.old",
    "echo x >> identity.db",                                  # open identity.db for writing
])
def test_a_validating_unit_writes_neither_keys_revocations_nor_identity_db(box, script):
    before = sorted(p.name for p in box["state"].rglob("*"))
    r = run_as(box["storage"], script, box["state"])
    assert r.returncode != 0, f"{script!r} succeeded as {box['storage']}"
    assert "Permission denied" in r.stderr or "Operation not permitted" in r.stderr, r.stderr
    assert sorted(p.name for p in box["state"].rglob("*")) == before


def test_a_validating_unit_cannot_grant_itself_a_role_in_identity_db(box):
    r = python_as(box["storage"], "import sqlite3; db = sqlite3.connect('identity.db'); "
                  "db.execute(\"insert into role values ('admin')\"); db.commit()", box["state"])
    assert r.returncode != 0 and "readonly database" in r.stderr, r.stderr
    with sqlite3.connect(box["state"] / "identity.db") as db:
        assert db.execute("select count(*) from role").fetchone()[0] == 0


def test_each_unit_writes_its_own_database(box):
    for unit in ("identity", "storage"):
        r = python_as(box[unit], f"import sqlite3; db = sqlite3.connect('{unit}.db'); "
                      "db.execute(\"insert into role values ('x')\"); db.commit()", box["state"])
        assert r.returncode == 0, r.stderr


def test_identity_appends_and_prunes_revocations(box):
    r = python_as(box["identity"], "import os; os.umask(0o007); from appliance.revocation import RevocationList; "
                  "revs = RevocationList('revocations/revocations.jsonl', 3600); revs.revoke(user_id='u2'); "
                  "revs.retention = -1; print(revs.prune())", box["state"])
    assert r.returncode == 0 and r.stdout.strip() == "2", r.stderr
    # the pruned list (a new file, renamed in) is still identity's and readable by the validating unit
    r = python_as(box["storage"], "from appliance.revocation import RevocationList; "
                  "print(len(RevocationList('revocations/revocations.jsonl', 3600).events()))", box["state"])
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr


def test_root_pruning_leaves_the_list_identitys(box):
    """`egret bootstrap` (root) prunes: the rewritten list stays identity's, which appends to it afterwards."""
    path = box["state"] / "revocations" / "revocations.jsonl"
    revs = RevocationList(path, 3600)
    revs.retention = -1
    assert revs.prune() == 1
    assert pwd.getpwuid(path.stat().st_uid).pw_name == box["identity"]
    r = python_as(box["identity"], "from appliance.revocation import RevocationList; "
                  "RevocationList('revocations/revocations.jsonl', 3600).revoke(user_id='u3')", box["state"])
    assert r.returncode == 0, r.stderr


def test_a_list_left_in_the_key_repository_is_read_and_never_duplicated(box):
    """Before egret-state.service moved it: identity cannot remove it (read-only keys), the readers see both."""
    legacy = box["state"] / "fernet-keys" / "revocations.jsonl"
    RevocationList(legacy, 3600).revoke(user_id="late-legacy")
    os.chmod(legacy, 0o640)
    code = ("from appliance.revocation import RevocationList; "
            "r = RevocationList('revocations/revocations.jsonl', 3600, legacy='fernet-keys/revocations.jsonl'); ")
    for _ in range(2):
        r = python_as(box["identity"], code + "r.revoke(user_id='u4')", box["state"])
        assert r.returncode == 0, r.stderr
    r = python_as(box["storage"], code + "print(sorted(e['user_id'] for e in r.events()))", box["state"])
    assert r.stdout.strip() == "['late-legacy', 'legacy-user', 'u4', 'u4']", r.stderr
    assert legacy.exists()
