"""Two boxes (two `egret up`, real gunicorn over real TLS): found a site, issue a token, join, heartbeat, remove."""
from __future__ import annotations

import json
import time

import pytest
import requests
import yaml

from appliance import config, jointoken, pki
from appliance.cluster import membership, versions
from appliance.cluster.join import JoinError, join
from appliance.testing.cloud import RunningCloud

pytestmark = pytest.mark.integration


def _box(tmp_path, name: str) -> RunningCloud:
    box = RunningCloud(tmp_path / name, services=["identity", "cluster"])
    (box.state_dir / "etc").mkdir(parents=True)
    (box.state_dir / "etc" / "egret.toml").write_text(
        f'[service.cluster]\nnode_name = "{name}"\nheartbeat_interval = 1\n')
    return box


def _settings(box: RunningCloud) -> config.Settings:
    return config.load(env=box.env)


def _cluster_url(box: RunningCloud, path: str) -> str:
    return f"https://127.0.0.1:{box.ports['cluster']}{path}"


@pytest.fixture(scope="module")
def boxes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    alpha, beta = _box(tmp, "alpha"), _box(tmp, "beta")
    alpha.start()
    beta.start()
    try:
        yield alpha, beta
    finally:
        alpha.stop()
        beta.stop()


def test_found_join_heartbeat_and_remove(boxes, tmp_path):
    alpha, beta = boxes
    a_settings, b_settings = _settings(alpha), _settings(beta)
    out = alpha.egret("join-token")
    assert out.returncode == 1 and "standalone" in out.stdout, out.stdout + out.stderr

    membership.found(a_settings, "edge1")
    out = alpha.egret("join-token", "--ttl", "600")
    assert out.returncode == 0, out.stdout + out.stderr
    token = out.stdout.splitlines()[0]
    body = jointoken.parse("join", token)
    # the token pins the CA the running unit serves with
    served = requests.get(_cluster_url(alpha, "/v1/cluster/ca"), verify=False, timeout=10).json()
    assert pki.fingerprint(served["ca_certificate"]) == body["ca_fingerprint"]
    assert body["addresses"] == [f"127.0.0.1:{alpha.ports['cluster']}"]

    out = beta.egret("join", token, "--address", f"127.0.0.1:{beta.ports['cluster']}")
    assert out.returncode == 0 and "joined site 'edge1' as node 'beta'" in out.stdout, out.stdout + out.stderr
    info = membership.site(b_settings)
    assert info["role"] == "member" and info["ca_fingerprint"] == body["ca_fingerprint"]
    # beta now serves with its node certificate from the site CA, and only trusts the site CA
    node_cert = (membership.state_dir(b_settings) / "member" / "node.crt").read_text()
    assert pki.verifies(node_cert, served["ca_certificate"]) and pki.common_name(node_cert) == "beta"
    assert oct((membership.state_dir(b_settings) / "member" / "node.key").stat().st_mode & 0o777) == "0o600"
    beta_ca = requests.get(_cluster_url(beta, "/v1/cluster/ca"), verify=False, timeout=10).json()
    assert beta_ca["ca_certificate"] == served["ca_certificate"]

    # joining again with the same token is a no-op: already a member
    again = beta.egret("join", token)
    assert again.returncode == 0, again.stdout

    # beta gave up its own cloud: its clouds.yaml and `egret status` name the site's API (alpha's), which takes
    # the site admin's password; beta's own clouds.yaml is kept aside for a leave
    assert f"its clients use the site's API, {alpha.url('identity', '/v3')}" in out.stdout, out.stdout
    clouds = yaml.safe_load(beta.clouds_yaml.read_text())["clouds"]["egret"]
    assert clouds["auth"]["auth_url"] == alpha.url("identity", "/v3") and "password" not in clouds["auth"]
    assert (beta.state_dir / "clouds.yaml.standalone").exists()
    assert requests.post(clouds["auth"]["auth_url"] + "/auth/tokens", timeout=10, json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"},
                                                       "password": alpha.password}}}}}).status_code == 201
    status = beta.egret("status")
    assert "of site 'edge1': its cloud is the site's API" in status.stdout, status.stdout
    assert alpha.url("identity", "/v3") in status.stdout and beta.url("identity") not in status.stdout
    # ... and so does `egret up` when the member starts again (it rewrites clouds.yaml at every start), which runs
    # no API unit of its own any more: identity is the founder's
    beta.stop()
    beta.start()
    banner = beta.output_path.read_text()
    assert f"of site 'edge1': its cloud is the site's API, {alpha.url('identity', '/v3')}" in banner, banner
    assert beta.url("identity") not in banner, banner
    with pytest.raises(requests.ConnectionError):
        requests.get(beta.url("identity", "/healthz"), timeout=5)
    assert yaml.safe_load(beta.clouds_yaml.read_text())["clouds"]["egret"]["auth"]["auth_url"] == \
        alpha.url("identity", "/v3")

    # heartbeats over mTLS carry beta's health to the founder
    admin = {"X-Auth-Token": alpha.admin_token()}
    deadline, nodes = time.time() + 60, {}
    while time.time() < deadline:
        rows = requests.get(_cluster_url(alpha, "/v1/cluster/nodes"), headers=admin, verify=False, timeout=10)
        assert rows.status_code == 200, rows.text
        nodes = {n["name"]: n for n in rows.json()["nodes"]}
        # a fresh heartbeat: the row keeps the health beta sent before its restart (with its identity then)
        beta_row = nodes.get("beta", {})
        if beta_row.get("status") == "online" and beta_row.get("health") == {} and \
                nodes.get("alpha", {}).get("health"):
            break
        time.sleep(0.5)
    assert nodes["beta"]["status"] == "online" and nodes["beta"]["health"] == {}, nodes
    # both said which release they run: the same one, no skew
    assert nodes["beta"]["version"] == nodes["alpha"]["version"] == versions.current(), nodes
    assert not nodes["beta"]["version_skew"]
    assert nodes["alpha"]["founder"] and nodes["alpha"]["health"] == {"identity": True}, nodes
    # ... and the founder's answer gives beta the member list
    deadline = time.time() + 30
    while time.time() < deadline:
        listed = json.loads((membership.state_dir(b_settings) / "member" / "members.json").read_text())
        if {n["name"] for n in listed} == {"alpha", "beta"}:
            break
        time.sleep(0.5)
    assert {n["name"] for n in listed} == {"alpha", "beta"}
    members_out = beta.egret("cluster", "members")
    assert "alpha" in members_out.stdout and "beta" in members_out.stdout, members_out.stdout

    # the listing needs an admin token; a heartbeat needs a node certificate
    assert requests.get(_cluster_url(alpha, "/v1/cluster/nodes"), verify=False, timeout=10).status_code == 401
    r = requests.post(_cluster_url(alpha, "/v1/cluster/heartbeat"), json={}, verify=False, timeout=10)
    assert r.status_code == 401 and "node certificate" in r.json()["error"]["message"]

    # a third box with the used token gets the reason, and keeps no state
    gamma = config.load(env={**beta.env, "EGRET_STATE_DIR": str(tmp_path / "gamma")})
    with pytest.raises(JoinError, match="already used by node 'beta'"):
        join(gamma, token, name="gamma", address="127.0.0.1:1")
    assert not membership.site_file(gamma).exists()
    assert not (membership.state_dir(gamma) / "member").exists()

    # a certificate from another CA is refused during the TLS handshake
    stranger = pki.CertificateAuthority.create(tmp_path / "stranger", "stranger")
    stranger.ensure_leaf(tmp_path / "s.crt", tmp_path / "s.key", "beta")
    with pytest.raises(pki.PeerError):
        pki.request("POST", _cluster_url(alpha, "/v1/cluster/heartbeat"), ca_pem=served["ca_certificate"],
                    cert=(tmp_path / "s.crt", tmp_path / "s.key"), body={})

    # removing beta: its next heartbeat is refused
    r = requests.delete(_cluster_url(alpha, "/v1/cluster/nodes/beta"), headers=admin, verify=False, timeout=10)
    assert r.status_code == 204
    with pytest.raises(pki.PeerError, match="not a member"):
        pki.request("POST", _cluster_url(alpha, "/v1/cluster/heartbeat"), ca_pem=served["ca_certificate"],
                    cert=membership.node_certificate(b_settings), body={})


def test_wrong_pin_and_unreachable_leave_nothing(boxes, tmp_path):
    alpha, _ = boxes
    a_settings = _settings(alpha)
    if not membership.site(a_settings):
        membership.found(a_settings, "edge1")
    out = alpha.egret("join-token")
    body = jointoken.parse("join", out.stdout.splitlines()[0])
    other = pki.CertificateAuthority.create(tmp_path / "other", "other").fingerprint
    forged = jointoken.make_token("join", ca_fingerprint=other, expires_at=time.time() + 600,
                                  addresses=body["addresses"], secret=body["secret"])
    delta = config.load(env={**alpha.env, "EGRET_STATE_DIR": str(tmp_path / "delta")})
    with pytest.raises(JoinError, match="not the box that issued the token"):
        join(delta, forged, name="delta", address="127.0.0.1:1")
    nowhere = jointoken.make_token("join", ca_fingerprint=body["ca_fingerprint"], expires_at=time.time() + 600,
                                   addresses=["127.0.0.1:1"], secret=body["secret"])
    with pytest.raises(JoinError, match="No address in the token answered"):
        join(delta, nowhere, name="delta", address="127.0.0.1:1")
    assert not membership.site_file(delta).exists() and not (membership.state_dir(delta) / "member").exists()
    # the real token was not consumed by the failed attempts
    info = join(delta, out.stdout.splitlines()[0], name="delta", address="127.0.0.1:1")
    assert info["site"] == "edge1"


def test_failed_joins_leave_nothing_and_a_retry_works(boxes, tmp_path, monkeypatch):
    alpha, _ = boxes
    a_settings = _settings(alpha)
    if not membership.site(a_settings):
        membership.found(a_settings, "edge1")
    token = alpha.egret("join-token").stdout.splitlines()[0]
    admin = {"X-Auth-Token": alpha.admin_token()}

    def names():
        rows = requests.get(_cluster_url(alpha, "/v1/cluster/nodes"), headers=admin, verify=False, timeout=10)
        return {n["name"] for n in rows.json()["nodes"]}

    # another release series: refused by the founder (409) before the token is looked at
    eps = config.load(env={**alpha.env, "EGRET_STATE_DIR": str(tmp_path / "eps")})
    founder_series = versions.series(versions.current())
    with monkeypatch.context() as m:
        m.setattr(versions, "current", lambda: "0.0.1")
        with pytest.raises(JoinError, match=rf"founder runs {founder_series}, this box 0\.0.*\(HTTP 409\)"):
            join(eps, token, name="eps", address="127.0.0.1:1")
    assert "eps" not in names() and not membership.site_file(eps).exists()

    # the founder answered, then the box could not write its files: the admission is undone on the founder
    blocker = membership.state_dir(eps) / "member.tmp"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory")
    with pytest.raises(JoinError, match="could not write its membership .*the founder undid the admission"):
        join(eps, token, name="eps", address="127.0.0.1:1")
    assert "eps" not in names()
    assert not membership.site_file(eps).exists() and not (membership.state_dir(eps) / "member").exists()
    assert not (eps.state_dir / "clouds.yaml").exists()

    # a box that died right after the founder answered (no abort sent, no file kept) retries with the same token:
    # the founder admits it afresh, since it never sent a heartbeat
    blocker.unlink()
    ca_pem = requests.get(_cluster_url(alpha, "/v1/cluster/ca"), verify=False, timeout=10).json()["ca_certificate"]
    pki.request("POST", _cluster_url(alpha, "/v1/cluster/join"), ca_pem=ca_pem, body={
        "secret": jointoken.parse("join", token)["secret"], "name": "eps", "address": "127.0.0.1:1",
        "csr": pki.new_key_and_csr("eps")[1], "version": versions.current()})
    assert "eps" in names() and not membership.site_file(eps).exists()
    info = join(eps, token, name="eps", address="127.0.0.1:1")
    assert info["site"] == "edge1" and "eps" in names()
    node_cert = (membership.state_dir(eps) / "member" / "node.crt").read_text()
    rows = requests.get(_cluster_url(alpha, "/v1/cluster/nodes"), headers=admin, verify=False, timeout=10).json()
    assert [n for n in rows["nodes"] if n["name"] == "eps"] and pki.verifies(node_cert, ca_pem)
    # once the node has sent its first heartbeat, the token is spent for good
    pki.request("POST", _cluster_url(alpha, "/v1/cluster/heartbeat"), ca_pem=ca_pem,
                cert=membership.node_certificate(eps), body={"version": versions.current()})
    with pytest.raises(pki.PeerError, match="already used by node 'eps'"):
        pki.request("POST", _cluster_url(alpha, "/v1/cluster/join"), ca_pem=ca_pem, body={
            "secret": jointoken.parse("join", token)["secret"], "name": "eps", "address": "127.0.0.1:1",
            "csr": pki.new_key_and_csr("eps")[1], "version": versions.current()})
    assert yaml.safe_load((eps.state_dir / "clouds.yaml").read_text())["clouds"]["egret"]["auth"]["auth_url"] == \
        alpha.url("identity", "/v3")
    # leaving gives the box its own cloud back (here it had none: nothing to restore) and forgets the site
    membership.leave(eps)
    assert not membership.site_file(eps).exists()
