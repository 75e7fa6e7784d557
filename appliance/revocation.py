"""Token revocation events in an append-only file every service on the box reads locally (identity alone writes)."""
from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path

# the fields an event may pin; an event matches a token when every field it sets matches
MATCH_FIELDS = ("user_id", "project_id", "domain_id", "audit_id", "audit_chain_id", "app_cred_id")


def _token_fields(token) -> dict:
    return {
        "user_id": token.user_id,
        "project_id": token.project_id,
        "domain_id": token.domain_id or token.project_domain_id,
        "audit_id": token.audit_ids[0],
        "audit_chain_id": token.audit_ids[-1],
        "app_cred_id": token.app_cred_id,
    }


def migrate_legacy(legacy: Path, path: Path) -> bool:
    """Move a list kept in the key repository (before issue 12) to its own directory; True if it moved.
    A list already at the new place wins, the old one's events are appended to it."""
    legacy, path = Path(legacy), Path(path)
    if not legacy.exists():
        return False
    # 0750 + the state dir's setgid: the group (every unit) reads, only its owner (identity) writes
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    if path.exists():
        with open(legacy, "rb") as src, open(path, "ab") as dst:
            dst.write(src.read())
            dst.flush()
            os.fsync(dst.fileno())
        legacy.unlink()
    else:
        os.replace(legacy, path)
    return True


class RevocationList:
    """Identity appends events; readers reload when the file's identity or size changes (a stat per check).

    `legacy` is where older boxes kept the list (inside the key repository): read as well while it exists, moved
    by egret-state.service at boot (or by identity's first write where it may, as root in dev)."""

    def __init__(self, path: Path, max_token_lifetime: int, legacy: Path | None = None):
        self.path = Path(path)
        self.legacy = Path(legacy) if legacy else None
        # events older than any token that could still be alive can be dropped
        self.retention = max_token_lifetime + 600
        self._stamp = None
        self._events: list[dict] = []
        self._lock = threading.Lock()

    def revoke(self, **fields) -> dict:
        unknown = set(fields) - set(MATCH_FIELDS)
        if unknown or not any(fields.values()):
            raise ValueError(f"bad revocation event fields {fields}")
        now = time.time()
        event = {k: v for k, v in fields.items() if v is not None}
        event["issued_before"] = now
        event["revoked_at"] = now
        self._migrate()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        line = (json.dumps(event, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            self._hand_to_owner(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return event

    def prune(self) -> int:
        """Rewrite the file without expired events (atomic rename); returns how many were dropped."""
        self._migrate()
        if not self.path.exists():
            return 0
        cutoff = time.time() - self.retention
        lock_fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            events = self._read()
            keep = [e for e in events if e["revoked_at"] >= cutoff]
            if len(keep) == len(events):
                return 0
            tmp = self.path.with_suffix(".tmp")
            # 0640 like the list itself: the new file replaces it, the readers (group) must still open it
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "w") as fh:
                self._hand_to_owner(fh.fileno())
                for e in keep:
                    fh.write(json.dumps(e, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            return len(events) - len(keep)
        finally:
            os.close(lock_fd)

    def _migrate(self) -> None:
        # only where we may remove it (dev, root): else the events would be appended again at every write. On
        # the box the key repository is read-only to identity and egret-state.service moves the list at boot
        if self.legacy is not None and self.legacy.exists() and os.access(self.legacy.parent, os.W_OK):
            migrate_legacy(self.legacy, self.path)

    def _hand_to_owner(self, fd: int) -> None:
        """Root (`egret bootstrap` prunes) writing identity's list: the file stays identity's, as the directory."""
        if os.geteuid() == 0:
            owner = self.path.parent.stat()
            os.fchown(fd, owner.st_uid, owner.st_gid)

    def _sources(self) -> list[Path]:
        # a list still in the key repository is read too (a box that has not moved it yet loses no event)
        return [p for p in (self.path, self.legacy) if p is not None]

    def _read(self, path: Path | None = None) -> list[dict]:
        events = []
        with open(path or self.path) as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        events.append(json.loads(line))
                    except ValueError:
                        continue  # a torn last line from a crash mid-append is ignored
        return events

    def events(self) -> list[dict]:
        found = []
        for path in self._sources():
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            found.append((path, (st.st_ino, st.st_size, st.st_mtime_ns)))
        stamp = tuple(s for _, s in found)
        with self._lock:
            if stamp != self._stamp:
                events = []
                for path, _ in found:
                    try:
                        events.extend(self._read(path))
                    except FileNotFoundError:  # moved or pruned between stat and open: the next check rereads
                        stamp = None
                self._events = events
                self._stamp = stamp
            return self._events

    def is_revoked(self, token) -> bool:
        fields = None
        for event in self.events():
            if token.issued_at > event["issued_before"]:
                continue
            fields = fields or _token_fields(token)
            if all(fields.get(k) == event[k] for k in MATCH_FIELDS if k in event):
                return True
        return False
