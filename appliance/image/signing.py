"""Ed25519 signatures on A/B updates: the build machine signs SHA256SUMS, the box verifies with keys in its image.

The private key is made once per build machine (0600, in BUILD_KEY's directory, never committed); its public
half is baked into every image it builds under TRUSTED_DIR. A bundle's SHA256SUMS lists every other member
(manifest included), so one signature over it covers the whole bundle.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

BUILD_KEY = Path(os.environ.get("EGRET_SIGNING_KEY", "/var/lib/egret-build/update-signing.key"))
TRUSTED_DIR = Path("/usr/share/egret/update-keys")


class SignatureError(ValueError):
    """Unsigned, tampered with, or signed by a key this box does not trust."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def ensure_build_key(path: Path = None) -> Ed25519PrivateKey:
    """The build machine's signing key, made on first use (0600, directory 0700)."""
    path = Path(path or BUILD_KEY)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError(f"{path}: not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    path.with_suffix(".pub").write_bytes(public_pem(key.public_key()))
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def load_public(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path}: not an Ed25519 public key")
    return key


def trusted_keys(directory: Path | None = None) -> list[Ed25519PublicKey]:
    directory = Path(directory or TRUSTED_DIR)
    if not directory.is_dir():
        return []
    return [load_public(p) for p in sorted(directory.glob("*.pub"))]


def verify(data: bytes, signature: bytes | None, keys: list[Ed25519PublicKey], what: str) -> str:
    """The id of the trusted key that signed data; SignatureError when none did."""
    if not signature:
        raise SignatureError(f"{what} is not signed")
    if not keys:
        raise SignatureError(f"this box trusts no update signing key ({TRUSTED_DIR} is empty); refusing {what}")
    for key in keys:
        try:
            key.verify(signature, data)
            return key_id(key)
        except InvalidSignature:
            continue
    raise SignatureError(f"{what}: signature does not verify with any trusted key (tampered with, or signed by "
                         f"another build machine)")
