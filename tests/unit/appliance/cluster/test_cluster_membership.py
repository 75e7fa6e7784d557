"""Site membership on the founder: tokens, admission, heartbeats, removal (SQLite, the cluster app's test client)."""
from __future__ import annotations

import dataclasses
import datetime
import threading

import pytest

from appliance import errors, jointoken, pki
from appliance.cluster import membership, models
from appliance.cluster.service import create_app


@pytest.fixture
def founder(settings):
    app = create_app(settings, background=False)
    membership.found(settings, "lyon")
    with app.app_context():
        yield settings, app


def _csr(name="n1"):
    return pki.new_key_and_csr(name)[1]


def _secret(settings, ttl=600):
    return jointoken.parse("join", membership.issue_token(settings, ttl)["token"])["secret"]


def test_pki_names_and_trust(tmp_path):
    ca = pki.CertificateAuthority.create(tmp_path / "ca", "site")
    assert pki.CertificateAuthority.create(tmp_path / "ca", "other").fingerprint == ca.fingerprint  # kept
    cert = ca.issue(pki.new_key_and_csr("evil-name")[1], "n1", sans=["10.0.0.5"])
    assert pki.common_name(cert) == "n1" and pki.verifies(cert, ca.cert_pem)  # the CSR's subject is ignored
    assert not pki.verifies(cert, pki.CertificateAuthority.create(tmp_path / "ca2", "x").cert_pem)
    crt, key = tmp_path / "s.crt", tmp_path / "s.key"
    ca.ensure_leaf(crt, key, "n1", ["10.0.0.5"])
    first = crt.read_text()
    ca.ensure_leaf(crt, key, "n1", ["10.0.0.5"])
    assert crt.read_text() == first and oct(key.stat().st_mode & 0o777) == "0o600"
    ca.ensure_leaf(crt, key, "n1", ["10.0.0.5", "10.0.0.6"])  # a new address: reissued
    assert crt.read_text() != first


def test_tokens_are_single_use_and_expire(founder):
    settings, _ = founder
    secret = _secret(settings)
    out = membership.redeem(settings, secret, "n1", "10.0.0.5:8120", _csr())
    assert out["site"] == "lyon" and pki.verifies(out["certificate"], out["ca_certificate"])
    assert {m["name"] for m in out["members"]} == {membership.node_name(settings), "n1"}
    with pytest.raises(errors.Unauthorized, match="already used by node 'n1'"):
        membership.redeem(settings, secret, "n2", "10.0.0.6:8120", _csr())
    with pytest.raises(errors.Unauthorized, match="not one this site issued"):
        membership.redeem(settings, "x" * 32, "n2", "10.0.0.6:8120", _csr())
    old = _secret(settings)
    models.JoinToken.update(expires_at=membership.now() - datetime.timedelta(seconds=1)).execute()
    with pytest.raises(errors.Unauthorized, match="expired"):
        membership.redeem(settings, old, "n2", "10.0.0.6:8120", _csr())
    assert models.Node.select().count() == 2  # the founder and n1: refusals add nothing


def test_name_taken_bad_csr_and_ttl_change_nothing(founder):
    settings, _ = founder
    secret = _secret(settings)
    with pytest.raises(errors.Conflict, match="name: a node called"):
        membership.redeem(settings, secret, membership.node_name(settings), "10.0.0.5:8120", _csr())
    with pytest.raises(errors.BadRequest, match="csr"):
        membership.redeem(settings, secret, "n1", "10.0.0.5:8120", "-----BEGIN CERTIFICATE REQUEST-----\nxx\n")
    assert models.JoinToken.get().used_at is None  # the token survives refusals
    with pytest.raises(errors.BadRequest, match="ttl"):
        membership.issue_token(settings, 10)


def test_heartbeats_online_offline_and_removal(founder):
    settings, _ = founder
    membership.redeem(settings, _secret(settings), "n1", "10.0.0.5:8120", _csr())
    membership.heartbeat(settings, "n1", "10.0.0.9:8120", {"identity": True})
    row = {m["name"]: m for m in membership.members(settings)}["n1"]
    assert row["status"] == "online" and row["address"] == "10.0.0.9:8120" and row["health"] == {"identity": True}
    stale = membership.now() - datetime.timedelta(seconds=3 * membership.interval(settings) + 1)
    models.Node.update(last_seen=stale).where(models.Node.name == "n1").execute()
    assert {m["name"]: m for m in membership.members(settings)}["n1"]["status"] == "offline"
    membership.remove(settings, "n1")
    with pytest.raises(errors.Forbidden, match="not a member"):
        membership.heartbeat(settings, "n1", None, {})
    with pytest.raises(errors.BadRequest, match="founding node cannot remove itself"):
        membership.remove(settings, membership.node_name(settings))


def test_standalone_and_member_issue_no_tokens(settings, tmp_path):
    create_app(settings, background=False)
    with pytest.raises(errors.Conflict, match="standalone"):
        membership.issue_token(settings)
    member = settings.state_dir / "cluster" / "site.json"
    membership.write_json(member, {"site": "lyon", "role": "member", "node": "n1", "seeds": ["10.0.0.1:8120"],
                                   "ca_fingerprint": "sha256:" + "0" * 64})
    with pytest.raises(errors.Conflict, match="founding node"):
        membership.issue_token(settings)
    with pytest.raises(errors.Conflict, match="already a member of site 'lyon'"):
        membership.found(settings, "paris")


def test_api_validates_and_needs_credentials(founder, mint_token):
    settings, app = founder
    client = app.test_client()
    r = client.post("/v1/cluster/join", json={"secret": "s" * 30, "name": "Bad_Name", "address": "a:1",
                                              "csr": _csr()})
    assert r.status_code == 400 and "name" in r.json["error"]["message"]
    r = client.post("/v1/cluster/heartbeat", json={})
    assert r.status_code == 401 and "node certificate" in r.json["error"]["message"]
    assert client.get("/v1/cluster/nodes").status_code == 401
    member = {"X-Auth-Token": mint_token(roles=["member", "reader"])}
    assert client.post("/v1/cluster/join-tokens", json={}, headers=member).status_code == 403
    admin = {"X-Auth-Token": mint_token(roles=["admin", "member", "reader"])}
    r = client.post("/v1/cluster/join-tokens", json={"ttl": 5}, headers=admin)
    assert r.status_code == 400 and "ttl" in r.json["error"]["message"]
    r = client.post("/v1/cluster/join-tokens", json={"ttl": 600}, headers=admin)
    assert r.status_code == 201 and jointoken.parse("join", r.json["token"])["ca_fingerprint"] == \
        membership.box_ca(settings).fingerprint
    assert client.get("/v1/cluster").json["cluster"]["role"] == "founder"


def test_advertised_addresses_get_the_cluster_port(settings):
    port = settings.port("cluster")
    s = dataclasses.replace(settings, service={"cluster": {"advertise": ["10.0.0.1", "h:9", "fd00::1", "[fd00::2]",
                                                                        "[fd00::3]:7"]}})
    assert membership.advertised(s) == [f"10.0.0.1:{port}", "h:9", f"[fd00::1]:{port}", f"[fd00::2]:{port}",
                                        "[fd00::3]:7"]
    assert all(jointoken.HOSTPORT.match(a) for a in membership.advertised(s))


def test_founder_row_is_made_once_when_the_unit_and_a_cli_race(founder, monkeypatch):
    # right after setup the cluster unit's loop and `egret join-token` both find no founder row; both
    # read the certificate (held there until both have looked) and both insert
    settings, _ = founder
    models.Node.delete().execute()
    both_looked, failures = threading.Barrier(2, timeout=5), []
    prepare_tls = membership.prepare_tls
    monkeypatch.setattr(membership, "prepare_tls", lambda s: (both_looked.wait(), prepare_tls(s))[1])

    def beat():
        try:
            membership.record_own_heartbeat(settings, {"identity": True})
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            failures.append(repr(exc))
        finally:
            models.database.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert [(n.name, n.founder) for n in models.Node.select()] == [(membership.node_name(settings), True)]
