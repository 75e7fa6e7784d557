"""Signed bundles: the hub signs (services/federation/bundles.py), a site verifies against the pinned key
(appliance/federation_bundle.py); every refusal says why."""
from __future__ import annotations

import base64
import copy
import json

import pytest

from appliance import federation_bundle as fb
from services.federation.bundles import SigningKey


@pytest.fixture
def key(tmp_path):
    return SigningKey.load_or_create(tmp_path / "signing")


@pytest.fixture
def pinned(key):
    return key.public_document()


def test_a_good_bundle_verifies(key, pinned):
    bundle = key.sign("flavors", 3, {"flavors": [{"name": "m1.small", "vcpus": 1}]})
    payload = fb.verify(bundle, pinned, last_revision=2)
    assert payload["kind"] == "flavors" and payload["revision"] == 3 and payload["issued_at"].endswith("Z")
    assert payload["body"] == {"flavors": [{"name": "m1.small", "vcpus": 1}]}
    # as text too (what goes over the wire), and the same revision again is an idempotent re-send
    assert fb.verify(json.dumps(bundle), pinned, last_revision=3) == payload
    assert bundle["key_id"] == pinned["key_id"] and bundle["format"] == "egret-bundle/1"


def test_the_signature_covers_canonical_json(key, pinned):
    bundle = key.sign("config", 1, {"b": 1, "a": [1, 2]})
    assert fb.canonical(bundle["payload"]) == (b'{"body":{"a":[1,2],"b":1},"issued_at":"'
                                               + bundle["payload"]["issued_at"].encode()
                                               + b'","kind":"config","revision":1}')
    # key order and whitespace of the transport do not matter; the content does
    text = json.dumps(bundle, indent=4, sort_keys=False)
    assert fb.verify(text, pinned)["body"] == {"b": 1, "a": [1, 2]}


@pytest.mark.parametrize("change", [
    lambda b: b["payload"]["body"].update(vcpus=2),
    lambda b: b["payload"].update(revision=4),
    lambda b: b["payload"].update(issued_at="2030-01-01T00:00:00Z"),
    lambda b: b["payload"].update(kind="images"),
    lambda b: b["payload"].update(extra=True),
    lambda b: b.update(signature=base64.b64encode(bytes([base64.b64decode(b["signature"])[0] ^ 1])
                                                  + base64.b64decode(b["signature"])[1:]).decode()),
    lambda b: b.update(signature="not base64!"),
])
def test_a_tampered_bundle_is_refused(key, pinned, change):
    bundle = key.sign("flavors", 3, {"vcpus": 1})
    change(bundle)
    with pytest.raises(fb.BadSignature, match="signature does not match its content"):
        fb.verify(bundle, pinned)


def test_every_changed_byte_of_the_payload_is_caught(key, pinned):
    text = fb.canonical(key.sign("config", 1, {"ntp": ["a.example", "b.example"]})["payload"]).decode()
    bundle = key.sign("config", 1, {"ntp": ["a.example", "b.example"]})
    for i in range(len(text)):
        changed = text[:i] + chr(ord(text[i]) ^ 1) + text[i + 1:]
        try:
            payload = json.loads(changed)
        except ValueError:
            continue  # not JSON any more: refused before the signature is looked at
        forged = dict(bundle, payload=payload)
        with pytest.raises(fb.BundleError):
            fb.verify(forged, pinned)


def test_a_bundle_signed_by_another_key_is_refused(key, pinned, tmp_path):
    other = SigningKey.load_or_create(tmp_path / "other")
    bundle = other.sign("flavors", 1, {})
    with pytest.raises(fb.WrongKey, match=f"signed by key '{other.key_id}', not by the hub's pinned key "
                                          f"{key.key_id}"):
        fb.verify(bundle, pinned)
    # another key claiming the pinned key's id: the signature does not verify
    bundle["key_id"] = key.key_id
    with pytest.raises(fb.BadSignature, match="signed by another key"):
        fb.verify(bundle, pinned)


@pytest.mark.parametrize("strip", [lambda b: b.pop("signature"), lambda b: b.update(signature=""),
                                   lambda b: b.update(signature=None)])
def test_an_unsigned_bundle_is_refused(key, pinned, strip):
    bundle = key.sign("flavors", 1, {})
    strip(bundle)
    with pytest.raises(fb.Unsigned, match="unsigned"):
        fb.verify(bundle, pinned)


def test_a_replayed_revision_is_refused(key, pinned):
    old = key.sign("images", 4, {"images": []})
    fb.verify(old, pinned, last_revision=None)
    with pytest.raises(fb.Replayed, match="revision 4 of kind 'images' is lower than the last applied revision 5"):
        fb.verify(copy.deepcopy(old), pinned, last_revision=5)


def test_an_unknown_kind_is_refused(key, pinned):
    bundle = key.sign("flavors", 1, {})
    bundle["payload"]["kind"] = "firmware"
    # re-signed by the real key: the kind is still not one a site knows
    bundle = dict(bundle, signature=base64.b64encode(key._private.sign(fb.canonical(bundle["payload"]))).decode())
    with pytest.raises(fb.UnknownKind, match="'firmware' is not one of identity, images, flavors"):
        fb.verify(bundle, pinned)
    with pytest.raises(ValueError, match="unknown bundle kind"):
        key.sign("firmware", 1, {})


@pytest.mark.parametrize("envelope, message", [
    ("{", "not a JSON document"), ("[]", "not an egret-bundle/1 envelope"),
    ({"format": "egret-bundle/0"}, "not an egret-bundle/1 envelope"),
    ({"format": "egret-bundle/1", "signature": "x"}, "no payload"),
])
def test_malformed_envelopes_are_refused(pinned, envelope, message):
    with pytest.raises(fb.BundleError, match=message):
        fb.verify(envelope, pinned)


def test_a_bad_pinned_key_is_refused(key):
    bundle = key.sign("flavors", 1, {})
    with pytest.raises(fb.BundleError, match="not an Ed25519 public key document"):
        fb.verify(bundle, {})
    with pytest.raises(fb.BundleError, match="inconsistent"):
        fb.verify(bundle, dict(key.public_document(), key_id="ed25519:0000000000000000"))


def test_the_key_file_is_private_and_stable(tmp_path):
    key = SigningKey.load_or_create(tmp_path / "signing")
    assert (tmp_path / "signing" / "signing.key").stat().st_mode & 0o777 == 0o600
    assert SigningKey.load_or_create(tmp_path / "signing").key_id == key.key_id
    assert [p.name for p in (tmp_path / "signing").iterdir()] == ["signing.key"]
