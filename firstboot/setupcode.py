"""The one-time setup code: shown on the console, stored only as a scrypt hash, wrong guesses locked out."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from appliance.config import Settings
from firstboot.state import firstboot_dir, write_private

# no 0/O/1/I: the code is read off a console and typed on a phone
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
FREE_ATTEMPTS = 3
BASE_LOCKOUT = 5.0
MAX_LOCKOUT = 3600.0


class LockedOut(Exception):
    def __init__(self, retry_after: float):
        super().__init__(f"Too many wrong setup codes; try again in {int(retry_after + 0.999)} s.")
        self.retry_after = retry_after


def normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def _hash(code: str, salt: bytes) -> str:
    return hashlib.scrypt(normalize(code).encode(), salt=salt, n=2 ** 14, r=8, p=1).hex()


def lockout_seconds(failures: int) -> float:
    """Exponential: the 4th wrong code locks 5 s, then 10, 20, ... up to an hour."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    return min(MAX_LOCKOUT, BASE_LOCKOUT * 2 ** (failures - FREE_ATTEMPTS))


class SetupCode:
    def __init__(self, settings: Settings, clock=time.time):
        self.path = firstboot_dir(settings) / "setup-code.json"
        self.clock = clock

    def _load(self) -> dict | None:
        return json.loads(self.path.read_text()) if self.path.exists() else None

    def _save(self, record: dict) -> None:
        write_private(self.path, json.dumps(record))

    def exists(self) -> bool:
        return self.path.exists()

    def issue(self) -> str:
        """A new code (about 60 bits), replacing any earlier one; only its hash is kept."""
        raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
        salt = secrets.token_bytes(16)
        self._save({"salt": salt.hex(), "hash": _hash(raw, salt), "failures": 0, "locked_until": 0.0,
                    "generation": secrets.token_hex(8), "issued_at": self.clock()})
        return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"

    def generation(self) -> str | None:
        record = self._load()
        return record["generation"] if record else None

    def verify(self, code: str) -> str:
        """The code's generation id when right; raises LockedOut, or ValueError for a wrong code."""
        record = self._load()
        if record is None:
            raise ValueError("No setup code has been issued; see the box's console.")
        now = self.clock()
        if now < record["locked_until"]:
            raise LockedOut(record["locked_until"] - now)
        if hmac.compare_digest(_hash(code, bytes.fromhex(record["salt"])), record["hash"]):
            record["failures"] = 0
            record["locked_until"] = 0.0
            self._save(record)
            return record["generation"]
        record["failures"] += 1
        wait = lockout_seconds(record["failures"])
        record["locked_until"] = now + wait
        self._save(record)
        if wait:
            raise LockedOut(wait)
        raise ValueError("Wrong setup code.")
