"""scrypt password and secret hashing (salted, cost from settings, constant-time compare)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

R, P = 8, 1


def _kdf(secret: str, salt: bytes, log2n: int) -> bytes:
    n = 2 ** log2n
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=R, p=P, dklen=32,
                          maxmem=128 * R * n * 2 + 1024 * 1024)


def hash_secret(secret: str, log2n: int) -> str:
    salt = os.urandom(16)
    digest = _kdf(secret, salt, log2n)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${log2n}${R}${P}${b64(salt)}${b64(digest)}"


def check_secret(secret: str, stored: str | None) -> bool:
    if not stored or not isinstance(secret, str):
        return False
    try:
        kind, log2n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt" or int(r) != R or int(p) != P:
            return False
        expected = base64.b64decode(digest)
        actual = _kdf(secret, base64.b64decode(salt), int(log2n))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
