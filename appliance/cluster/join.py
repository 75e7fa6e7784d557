"""Joining a site from a token: pin the site CA, send a CSR, keep the node certificate; nothing left on failure."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time

from appliance import dbmove, jointoken, pki
from appliance.cluster import holdings, membership, siteclouds, versions


class JoinError(RuntimeError):
    """Why the box could not join; nothing was changed on it."""


def join(settings, token: str, *, name: str | None = None, address: str | None = None, force: bool = False) -> dict:
    """Join the site that issued `token`. A box whose own cloud holds resources is refused (they would be lost)
    unless `force`, which, once the join succeeded, destroys what runs for them (the services' purge commands: their
    guests, their data plane) and drops them; the answer's "purged" and "dropped" list what went. A purge that
    fails undoes the join on both sides, and nothing is dropped."""
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
    # before the token is redeemed: a refusal here leaves the token good and both sides as they were
    held = holdings.count(settings)
    if held and not force:
        raise JoinError(holdings.refusal(held))
    if held:
        problem = dbmove.services_running(settings, holdings.files(settings))
        if problem:
            raise JoinError(f"--force drops this box's {holdings.describe(held)}, but {problem}. Nothing was changed.")
    name = name or membership.node_name(settings)
    address = address or membership.advertised(settings)[0]
    try:
        base, ca_pem = reach_site(body)
        key_pem, csr_pem = pki.new_key_and_csr(name)
        answer = pki.request("POST", base + "/v1/cluster/join", ca_pem=ca_pem,
                             body={"secret": body["secret"], "name": name, "address": address, "csr": csr_pem,
                                   "version": versions.current()})
    except pki.PinMismatch as exc:
        raise JoinError(str(exc)) from None
    except pki.PeerError as exc:
        raise JoinError(f"{exc} Nothing was changed.") from None
    if not pki.verifies(answer.get("certificate", ""), ca_pem):
        raise JoinError(f"{base} returned a certificate the pinned site CA did not sign. Nothing was changed.")
    try:
        info = _install(settings, body, answer, ca_pem, key_pem, name)
    except Exception as exc:  # the founder admitted the node: undo both sides, so a retry starts from scratch
        _forget(settings)
        raise JoinError(f"This box could not write its membership ({exc.__class__.__name__}: {exc}); "
                        + _abort(base, ca_pem, body["secret"], name)) from None
    if held:
        try:
            info = {**info, **holdings.drop(settings)}
        except holdings.PurgeError as exc:
            # the old cloud could not be stopped: the join does not go ahead on a box still running it
            _forget(settings)
            raise JoinError(f"--force could not stop this box's own cloud ({exc}); its "
                            f"{holdings.describe(held)} were not dropped, and "
                            + _abort(base, ca_pem, body["secret"], name)) from None
        except OSError as exc:
            raise JoinError(f"Joined site '{info['site']}', but dropping this box's own {holdings.describe(held)} "
                            f"failed ({exc}); remove them by hand.") from None
    return info


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
    api = answer.get("api") or {}
    siteclouds.install(settings, tmp, api)
    shutil.rmtree(base / "member", ignore_errors=True)
    os.replace(tmp, base / "member")
    info = {"site": answer["site"], "role": "member", "node": name, "ca_fingerprint": body["ca_fingerprint"],
            "seeds": answer.get("seeds") or body["addresses"], "joined_at": time.time(),
            "founder_version": answer.get("version"),
            "api": {k: v for k, v in api.items() if k != "ca_certificate"}}
    membership.write_json(membership.site_file(settings), info)
    membership.prepare_tls(settings)
    if api.get("identity_url"):
        siteclouds.write(settings, api)  # the box's clients now use the site's API
    membership.adopt(settings)
    return info


def _forget(settings) -> None:
    """Whatever _install got to write goes again (each step may itself fail on a box that cannot write)."""
    base = membership.state_dir(settings)
    with contextlib.suppress(OSError):
        if (base / "member.tmp").is_dir():
            shutil.rmtree(base / "member.tmp")
    if membership.site_file(settings).exists() or (base / "member").exists():
        with contextlib.suppress(Exception):
            membership.leave(settings)


def _abort(base: str, ca_pem: str, secret: str, name: str) -> str:
    """Ask the founder to undo the admission; the sentence saying how that went."""
    try:
        pki.request("POST", base + "/v1/cluster/join/abort", ca_pem=ca_pem, body={"secret": secret, "name": name})
    except pki.PeerError as exc:
        return (f"the founder still lists node '{name}' and could not be told ({exc}): retry the join with the "
                "same token (the founder admits this node afresh until its first heartbeat).")
    return "the founder undid the admission and the token is good again: nothing was left, retry the join."
