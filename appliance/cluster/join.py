"""Joining a site from a token: pin the site CA, send a CSR, keep the node certificate; nothing left on failure."""
from __future__ import annotations

import json
import os
import shutil
import time

from appliance import jointoken, pki
from appliance.cluster import membership


class JoinError(RuntimeError):
    """Why the box could not join; nothing was changed on it."""


def join(settings, token: str, *, name: str | None = None, address: str | None = None) -> dict:
    try:
        body = jointoken.parse("join", token)
    except jointoken.TokenInvalid as exc:
        raise JoinError(str(exc)) from None
    info = membership.site(settings)
    if info:
        if info["role"] == "member" and info["ca_fingerprint"] == body["ca_fingerprint"]:
            return info  # joining again with a token of the same site: already done
        raise JoinError(f"This box is already {membership.describe(info)}; leave it first "
                        "(`egret cluster leave`).")
    name = name or membership.node_name(settings)
    address = address or membership.advertised(settings)[0]
    try:
        base, ca_pem = reach_site(body)
        key_pem, csr_pem = pki.new_key_and_csr(name)
        answer = pki.request("POST", base + "/v1/cluster/join", ca_pem=ca_pem,
                             body={"secret": body["secret"], "name": name, "address": address, "csr": csr_pem})
    except pki.PinMismatch as exc:
        raise JoinError(str(exc)) from None
    except pki.PeerError as exc:
        raise JoinError(f"{exc} Nothing was changed.") from None
    if not pki.verifies(answer.get("certificate", ""), ca_pem):
        raise JoinError(f"{base} returned a certificate the pinned site CA did not sign. Nothing was changed.")
    return _install(settings, body, answer, ca_pem, key_pem, name)


def reach_site(body: dict) -> tuple[str, str]:
    """(base URL, CA certificate) of the first address in a join token that answers with the CA it pins."""
    unreachable = []
    for peer in body["addresses"]:
        base = f"https://{peer}"
        try:
            return base, pki.fetch_pinned_ca(base, body["ca_fingerprint"], path="/v1/cluster/ca")
        except pki.PinMismatch:
            raise
        except pki.PeerError as exc:
            unreachable.append(str(exc))
    raise pki.PeerError("No address in the token answered: " + "; ".join(unreachable) + ".")


def _install(settings, body: dict, answer: dict, ca_pem: str, key_pem: str, name: str) -> dict:
    """Write the member's files into a fresh directory, then rename it into place (a crash leaves no half-join)."""
    base = membership.state_dir(settings)
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / "member.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    (tmp / "ca.crt").write_text(ca_pem)
    (tmp / "node.crt").write_text(answer["certificate"])
    pki.write_private(tmp / "node.key", key_pem)
    (tmp / "members.json").write_text(json.dumps(answer.get("members", [])))
    shutil.rmtree(base / "member", ignore_errors=True)
    os.replace(tmp, base / "member")
    info = {"site": answer["site"], "role": "member", "node": name, "ca_fingerprint": body["ca_fingerprint"],
            "seeds": answer.get("seeds") or body["addresses"], "joined_at": time.time()}
    membership.write_json(membership.site_file(settings), info)
    membership.prepare_tls(settings)
    membership.adopt(settings)
    return info
