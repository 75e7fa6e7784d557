"""Fernet tokens: the key repository (setup, rotation), token payloads, local validation."""
from __future__ import annotations

import base64
import json
import os
import stat
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from appliance.revocation import RevocationList


class TokenError(Exception):
    """The token is malformed, forged, expired or revoked."""


class KeyRepository:
    """Keystone's layout: file 0 is the staged key, the highest number is the primary, the rest decrypt only.

    Token keys are group-readable (every service validates tokens); a `private` repository (the credential
    keys, which only identity uses) is readable by its owner alone."""

    def __init__(self, path: Path, max_active_keys: int = 3, *, private: bool = False):
        self.path = Path(path)
        self.max_active_keys = max(2, max_active_keys)
        self.dir_mode, self.file_mode = (0o700, 0o600) if private else (0o2750, 0o640)
        self._cache_stamp = None
        self._fernet = None

    def _key_files(self) -> dict[int, Path]:
        keys = {}
        if self.path.is_dir():
            for entry in self.path.iterdir():
                if entry.name.isdigit():
                    keys[int(entry.name)] = entry
        return keys

    def _write_key(self, index: int) -> None:
        tmp = self.path / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.file_mode)
        if os.geteuid() == 0:
            # root rotating a service's keys on the box: the key belongs to whoever owns the repository
            owner = self.path.stat()
            os.fchown(fd, owner.st_uid, owner.st_gid)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / str(index))

    def is_set_up(self) -> bool:
        return bool(self._key_files())

    def setup(self) -> bool:
        """Create the repository with a staged and a primary key; False if it already existed."""
        # setgid: keys inherit the directory's group (egret on the box), whose service users must read them to
        # validate tokens; nobody else may, and only the owner (identity's user, or root) writes: 2750/0640. Under the box's setgid state dir a
        # new directory inherits the bit, and chmod must not set it there: units run with RestrictSUIDSGID=,
        # whose seccomp filter refuses any chmod that sets S_ISGID
        self.path.mkdir(parents=True, exist_ok=True, mode=self.dir_mode & 0o777)
        if stat.S_IMODE(self.path.stat().st_mode) != self.dir_mode:
            os.chmod(self.path, self.dir_mode)
        if self._key_files():
            return False
        self._write_key(0)
        self._write_key(1)
        return True

    def rotate(self) -> int:
        """Promote the staged key to primary, stage a new one, drop the oldest beyond the limit."""
        keys = self._key_files()
        if 0 not in keys:
            raise RuntimeError(f"key repository {self.path} is not set up")
        new_primary = max(keys) + 1
        os.replace(keys[0], self.path / str(new_primary))
        self._write_key(0)
        keys = self._key_files()
        secondaries = sorted(k for k in keys if k not in (0, new_primary))
        while len(secondaries) + 2 > self.max_active_keys:
            keys[secondaries.pop(0)].unlink()
        self._cache_stamp = None
        return new_primary

    def fernet(self) -> MultiFernet:
        # another process (identity) may rotate at any time; the directory mtime tells us
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            raise TokenError(f"key repository {self.path} is missing") from None
        if self._fernet is None or stamp != self._cache_stamp:
            keys = self._key_files()
            if not keys:
                raise TokenError(f"key repository {self.path} is empty")
            ordered = sorted(keys, reverse=True)  # primary (highest) first, staged (0) last
            self._fernet = MultiFernet([Fernet(keys[i].read_bytes().strip()) for i in ordered])
            self._cache_stamp = stamp
        return self._fernet


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class TokenData:
    """What a token says about its bearer; the same object in every service."""

    user_id: str
    methods: list
    expires_at: float
    issued_at: float
    audit_ids: list
    user_domain_id: str = "default"
    project_id: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    system: str | None = None
    roles: list = field(default_factory=list)
    app_cred_id: str | None = None
    is_service: bool = False
    token: str = ""

    @property
    def scope(self) -> str:
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        if self.system:
            return "system"
        return "unscoped"

    @property
    def audit_chain_id(self) -> str:
        return self.audit_ids[-1]

    def to_payload(self) -> dict:
        return {
            "u": self.user_id, "ud": self.user_domain_id, "m": self.methods,
            "p": self.project_id, "pd": self.project_domain_id, "d": self.domain_id,
            "s": self.system, "r": self.roles, "ac": self.app_cred_id, "svc": self.is_service,
            "e": self.expires_at, "i": self.issued_at, "a": self.audit_ids,
        }

    @classmethod
    def from_payload(cls, data: dict, token: str = "") -> "TokenData":
        return cls(user_id=data["u"], user_domain_id=data.get("ud") or "default", methods=data["m"],
                   project_id=data.get("p"), project_domain_id=data.get("pd"), domain_id=data.get("d"),
                   system=data.get("s"), roles=data.get("r") or [], app_cred_id=data.get("ac"),
                   is_service=bool(data.get("svc")), expires_at=data["e"], issued_at=data["i"],
                   audit_ids=data["a"], token=token)


class TokenProvider:
    """Issues and validates Fernet tokens against the local key repository and revocation list."""

    def __init__(self, key_repository: KeyRepository, revocations: RevocationList):
        self.keys = key_repository
        self.revocations = revocations

    @classmethod
    def from_settings(cls, settings) -> "TokenProvider":
        return cls(KeyRepository(settings.key_repository, settings.fernet_max_active_keys),
                   RevocationList(settings.revocation_file, settings.token_expiration,
                                  legacy=settings.legacy_revocation_file))

    def issue(self, data: TokenData) -> str:
        blob = json.dumps(data.to_payload(), separators=(",", ":")).encode()
        token = self.keys.fernet().encrypt(blob).decode().rstrip("=")
        data.token = token
        return token

    def decode(self, token: str) -> TokenData:
        """Decrypt and check expiry; does not look at revocations."""
        if not token or len(token) > 4096:
            raise TokenError("The request you have made requires authentication.")
        padded = token + "=" * (-len(token) % 4)
        try:
            blob = self.keys.fernet().decrypt(padded.encode())
            data = TokenData.from_payload(json.loads(blob), token=token)
        except (InvalidToken, ValueError, KeyError, TypeError):
            raise TokenError("The request you have made requires authentication.") from None
        if data.expires_at <= time.time():
            raise TokenError("The token has expired.")
        return data

    def validate(self, token: str) -> TokenData:
        data = self.decode(token)
        if self.revocations.is_revoked(data):
            raise TokenError("The token has been revoked.")
        return data
