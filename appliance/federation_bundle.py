"""Signed bundles: what a federation hub sends its sites (desired-state documents, later), and their checks.

A bundle is a JSON envelope::

    {"format": "egret-bundle/1", "key_id": "ed25519:<16 hex>", "signature": "<base64 Ed25519 signature>",
     "payload": {"kind": "...", "revision": 7, "issued_at": "2026-12-04T12:00:00Z", "body": {...}}}

The signature is the hub's Ed25519 signature over the payload's canonical JSON (UTF-8, keys sorted, no
whitespace), so any changed byte of the payload changes what was signed. The key id is "ed25519:" and the first
16 hex digits of the SHA-256 of the raw 32-byte public key. Sites pin the hub's public key at enrolment
(hub.json) and verify every bundle against it; the hub signs with services/federation/bundles.py.
"""
from __future__ import annotations

import base64
import binascii
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.image import signing

FORMAT = "egret-bundle/1"
# what the hub will send (DESIGN.md §6: identity, images, flavors, config, releases)
KINDS = ("identity", "images", "flavors", "config", "releases")
ALGORITHM = "ed25519"


class BundleError(ValueError):
    """A bundle was refused; the message says why (nothing in it may be applied)."""


class Unsigned(BundleError):
    pass


class WrongKey(BundleError):
    pass


class BadSignature(BundleError):
    pass


class UnknownKind(BundleError):
    pass


class Replayed(BundleError):
    pass


def canonical(document) -> bytes:
    """Canonical JSON: keys sorted, no whitespace, UTF-8 (what is signed and verified)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def key_id(public_raw: bytes) -> str:
    """The id A/B update signatures use for a key too (appliance/image/signing.py)."""
    return signing.key_id(Ed25519PublicKey.from_public_bytes(public_raw))


def public_key_document(public_raw: bytes) -> dict:
    """How a hub publishes its signing key (GET /v1/signing-key) and how a site pins it (hub.json)."""
    return {"algorithm": ALGORITHM, "key_id": key_id(public_raw),
            "public_key": base64.b64encode(public_raw).decode()}


def load_public_key(pinned: dict) -> tuple[Ed25519PublicKey, str]:
    """(key, key id) from a pinned key document; BundleError if it is not one."""
    try:
        raw = base64.b64decode(pinned["public_key"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise BundleError("The pinned signing key is not an Ed25519 public key document.") from None
    if pinned.get("algorithm") != ALGORITHM or pinned.get("key_id") != key_id(raw):
        raise BundleError("The pinned signing key document is inconsistent (algorithm or key id).")
    return key, key_id(raw)


def verify(envelope, pinned: dict, *, last_revision: int | None = None, kinds=KINDS) -> dict:
    """The payload of a bundle signed by the pinned key, or a BundleError saying why it is refused.

    `envelope` is the bundle as text/bytes or as a parsed document; `last_revision` is the revision of the last
    bundle of this kind the site applied (a lower one is a replay; the same one again is an idempotent re-send).
    """
    if isinstance(envelope, (bytes, str)):
        try:
            envelope = json.loads(envelope)
        except ValueError:
            raise BundleError("The bundle is not a JSON document.") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise BundleError(f"The bundle is not an {FORMAT} envelope.")
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        raise BundleError("The bundle has no payload.")
    signature = envelope.get("signature")
    if not signature:
        raise Unsigned("The bundle is unsigned (no signature); it is refused.")
    key, pinned_id = load_public_key(pinned)
    if envelope.get("key_id") != pinned_id:
        raise WrongKey(f"The bundle is signed by key {str(envelope.get('key_id'))[:40]!r}, not by the hub's "
                       f"pinned key {pinned_id}; it is refused.")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
        key.verify(raw_signature, canonical(payload))
    except (TypeError, ValueError, binascii.Error, InvalidSignature):
        raise BadSignature("The bundle's signature does not match its content (changed in transit, or signed by "
                           "another key); it is refused.") from None
    kind = payload.get("kind")
    if kind not in kinds:
        raise UnknownKind(f"The bundle's kind {str(kind)[:40]!r} is not one of {', '.join(kinds)}.")
    revision = payload.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise BundleError("The bundle's revision is not a non-negative integer.")
    if not isinstance(payload.get("issued_at"), str):
        raise BundleError("The bundle has no issued_at.")
    if last_revision is not None and revision < last_revision:
        raise Replayed(f"The bundle's revision {revision} of kind {kind!r} is lower than the last applied "
                       f"revision {last_revision} (a replay); it is refused.")
    return payload
