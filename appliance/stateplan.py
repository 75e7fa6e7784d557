"""Who owns and who may write each path of the state dir: one plan for egret-state.service and the wizard."""
from __future__ import annotations

import argparse
import grp
import os
import pwd
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from appliance.config import GUEST_FILES, PRIVATE_STATE
from appliance.manifest import Unit, load_manifest
from appliance.revocation import migrate_legacy

GROUP = "egret"
# setgid: new files take group egret. Sticky: the top and secrets/ stay group-writable (each unit creates its
# own database, -wal and -shm there, compute or network the metadata proxy secret) but nobody can rename or
# delete what another user owns, so no unit can swap identity.db or the key repository for its own
SHARED_DIR = 0o3770
# the top alone also lets others pass (not list): libvirt's qemu user reaches the guests' files that way, and no
# other path under it gives others a bit
TOP_DIR = SHARED_DIR | stat.S_IXOTH
# group-readable, never group-writable: the token keys and revocations every unit validates with
READ_ONLY_DIR, READ_ONLY_FILE = 0o2750, 0o640


@dataclass(frozen=True)
class Rule:
    """One path (relative to the state dir) and what it must be. owner None: keep whoever owns it.
    file_mode None: keep the owner's bits, give the group read (and x where the owner has it), never write."""

    path: str
    owner: str | None
    dir_mode: int | None = None
    file_mode: int | None = None
    recursive: bool = False
    hands_off: bool = False   # the path itself only: what is under it belongs to someone else (never walked)


def _user_of(units: dict[str, Unit], service: str) -> str | None:
    users = {u.user for u in units.values() if u.service == service and u.user != "root"}
    return users.pop() if len(users) == 1 else None


def plan(units: dict[str, Unit]) -> list[Rule]:
    """Every rule, most specific first. PRIVATE_STATE is never touched (its unit keeps it 0700)."""
    identity = _user_of(units, "identity")
    rules = [
        # no unit writes the token keys: root creates them (`egret bootstrap`, the wizard) and rotates them
        # (`egret keys rotate`); every unit, identity included, reads them through the group
        Rule("fernet-keys", "root", READ_ONLY_DIR, READ_ONLY_FILE, recursive=True),
        # identity alone appends revocations (and prunes them by rename, so it owns the directory)
        Rule("revocations", identity, READ_ONLY_DIR, READ_ONLY_FILE, recursive=True),
        Rule("secrets", None, SHARED_DIR),
    ]
    for service in sorted({u.service for u in units.values()}):
        user = _user_of(units, service)
        if user is None:
            continue
        # each unit reads only its own service user's password
        rules.append(Rule(f"secrets/{service}-service-user.json", user, file_mode=0o600))
        # the wizard (root without CAP_DAC_OVERRIDE, in group egret) reads identity.db to know setup is done;
        # a WAL reader must write the -shm index, which holds no rows
        shm = 0o660 if service == "identity" else 0o640
        for suffix, mode in ((".db", 0o640), (".db-wal", 0o640), (".db-journal", 0o640), (".db-shm", shm)):
            rules.append(Rule(f"{service}{suffix}", user, file_mode=mode))
    storage = _user_of(units, "storage")
    if storage:
        # the disks the wizard gave to storage (its volumes, images and objects live on them, linked from
        # storage/): each mounted disk is storage's; the directory of mountpoints stays root's (the wizard's)
        rules += [Rule("disks/*", storage, 0o2750, recursive=True), Rule("disks", None, 0o2750)]
    # guests' files (NodeFiles makes them 0755/0644, libvirt labels a running guest's for its qemu user)
    rules.append(Rule(GUEST_FILES, None, 0o755, hands_off=True))
    for unit in sorted(units.values(), key=lambda u: u.name):
        if unit.user != "root" and unit.state_dir and unit.state_dir not in PRIVATE_STATE:
            rules.append(Rule(unit.state_dir, unit.user, 0o2750, recursive=True))
    rules.append(Rule("", None, TOP_DIR))
    return rules


def _read_only(mode: int, is_dir: bool) -> int:
    want = (mode & 0o700) | stat.S_IRGRP
    if is_dir or mode & stat.S_IXUSR:
        want |= stat.S_IXGRP
    return want | (mode & (stat.S_ISGID if is_dir else 0))


def _rule_for(rel: str, rules: list[Rule]) -> Rule | None:
    for rule in rules:
        if rule.path.endswith("/*"):  # any child of that directory, and (recursive) what is under it
            if rel.startswith(rule.path[:-1]) and (rule.recursive or "/" not in rel[len(rule.path) - 1:]):
                return rule
        elif rel == rule.path or (rule.recursive and rule.path and rel.startswith(rule.path + "/")):
            return rule
    return None


def wanted(rel: str, st: os.stat_result, rules: list[Rule]) -> tuple[str | None, int]:
    """(owner or None to keep, mode) for one path; anything no rule names is group read-only."""
    is_dir = stat.S_ISDIR(st.st_mode)
    mode = stat.S_IMODE(st.st_mode)
    rule = _rule_for(rel, rules)
    if rule is None:
        return None, _read_only(mode, is_dir)
    fixed = rule.dir_mode if is_dir else rule.file_mode
    return rule.owner, _read_only(mode, is_dir) if fixed is None else fixed


def _uid(name: str | None, cache: dict) -> int | None:
    if name is None:
        return None
    if name not in cache:
        try:
            cache[name] = pwd.getpwnam(name).pw_uid
        except KeyError:
            cache[name] = None  # dev: no such user here, the mode still applies
    return cache[name]


def _chown(path: Path, st: os.stat_result, uid: int | None, gid: int | None) -> int:
    if (uid is None or st.st_uid == uid) and (gid is None or st.st_gid == gid):
        return 0
    try:
        os.lchown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        return 1
    except PermissionError:
        pass
    if gid is None or st.st_gid == gid:
        return 0
    try:  # no CAP_CHOWN (the wizard): its own files can still go to a group it is in
        os.lchown(path, -1, gid)
        return 1
    except PermissionError:
        return 0


def apply(state_dir: Path, rules: list[Rule], group: str = GROUP) -> int:
    """Give every path its owner, group and mode; returns how many changes. Without CAP_CHOWN (the wizard)
    the owners are left to egret-state.service and only modes change."""
    state_dir = Path(state_dir)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = None
    uids: dict = {}
    changed = 0
    for root, dirs, files in os.walk(state_dir):
        rel_root = os.path.relpath(root, state_dir)
        rel_root = "" if rel_root == "." else rel_root
        if rel_root == "":
            dirs[:] = [d for d in dirs if d not in PRIVATE_STATE]
        rule = _rule_for(rel_root, rules)
        if rule is not None and rule.hands_off:
            dirs[:], files = [], []
        for rel in [rel_root, *(os.path.join(rel_root, f) if rel_root else f for f in files)]:
            path = state_dir / rel
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue  # never follow a link out of the state dir
            owner, mode = wanted(rel, st, rules)
            uid = _uid(owner, uids)
            changed += _chown(path, st, uid, gid)
            if stat.S_IMODE(os.lstat(path).st_mode) != mode:
                try:
                    os.chmod(path, mode)
                    changed += 1
                except PermissionError:
                    # the wizard: not its file, or a setgid mode under RestrictSUIDSGID=; egret-state.service
                    # (restarted by the wizard before it starts a unit) makes it right
                    pass
    return changed


def fix(state_dir: Path, units: dict[str, Unit] | None = None, group: str = GROUP) -> int:
    """Move a revocation list out of the key repository (older boxes), then apply the plan."""
    state_dir = Path(state_dir)
    migrate_legacy(state_dir / "fernet-keys" / "revocations.jsonl", state_dir / "revocations" / "revocations.jsonl")
    return apply(state_dir, plan(load_manifest() if units is None else units), group)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="egret-state", description=__doc__)
    parser.add_argument("state_dir", nargs="?", default="/var/lib/egret")
    args = parser.parse_args(argv)
    print(f"egret-state: {fix(Path(args.state_dir))} changes under {args.state_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
