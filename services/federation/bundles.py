"""The hub's Ed25519 signing key (created at first start, <state>/federation/signing/signing.key, 0600) and
sign(): the counterpart of appliance/federation_bundle.verify (the format is described there)."""
from __future__ import annotations

import base64
import datetime
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import pki
from appliance.federation_bundle import FORMAT, KINDS, canonical, key_id, public_key_document


class SigningKey:
    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public_raw = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def public_document(self) -> dict:
        return public_key_document(self.public_raw)

    def __repr__(self) -> str:  # never the private key
        return f"<SigningKey {self.key_id}>"

    @classmethod
    def load_or_create(cls, directory: Path) -> "SigningKey":
        path = Path(directory) / "signing.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path.parent, 0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()).decode()
            # written beside and renamed: two workers starting at once end with one key, never a torn file
            tmp = path.with_name(f".signing.key.{os.getpid()}")
            pki.write_private(tmp, pem)
            try:
                os.link(tmp, path)  # fails if another worker won: then its key is the key
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(private)

    def sign(self, kind: str, revision: int, body, *, issued_at: datetime.datetime | None = None) -> dict:
        """A signed bundle envelope of `kind` at `revision` carrying `body` (any JSON document)."""
        if kind not in KINDS:
            raise ValueError(f"unknown bundle kind {kind!r}")
        if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
            raise ValueError("revision must be a non-negative integer")
        issued = (issued_at or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        payload = {"kind": kind, "revision": revision, "issued_at": issued, "body": body}
        signature = self._private.sign(canonical(payload))
        return {"format": FORMAT, "key_id": self.key_id, "signature": base64.b64encode(signature).decode(),
                "payload": payload}


def hub_signing_key(settings) -> SigningKey:
    return SigningKey.load_or_create(Path(settings.state_dir) / "federation" / "signing")
