"""Version discovery and microversion negotiation."""


def test_discovery_is_public_and_honest(env):
    resp = env.app.test_client().get("/v2.1")
    assert resp.status_code == 200
    v = resp.json["version"]
    assert (v["id"], v["min_version"], v["version"], v["status"]) == ("v2.1", "2.1", "2.79", "CURRENT")
    assert any(link["rel"] == "self" for link in v["links"])
    root = env.app.test_client().get("/").json
    assert root["versions"][0]["version"] == "2.79"


def test_both_headers_are_accepted_and_echoed(env):
    resp = env.api.get("/v2.1/flavors", version="2.61")
    assert resp.headers["OpenStack-API-Version"] == "compute 2.61"
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.61"
    assert "OpenStack-API-Version" in resp.headers["Vary"]
    resp = env.app.test_client().get("/v2.1/flavors", headers={"X-Auth-Token": env.member_token,
                                                                "X-OpenStack-Nova-API-Version": "2.47"})
    assert resp.headers["OpenStack-API-Version"] == "compute 2.47"
    resp = env.app.test_client().get("/v2.1/flavors", headers={"X-Auth-Token": env.member_token})
    assert resp.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert env.api.get("/v2.1/flavors", version="latest").headers["X-OpenStack-Nova-API-Version"] == "2.79"


def test_above_max_is_406_and_malformed_is_400(env):
    resp = env.api.get("/v2.1/flavors", version="2.80")
    assert resp.status_code == 406
    assert "maximum is 2.79" in resp.json["notAcceptable"]["message"]
    resp = env.api.get("/v2.1/flavors", version="2.x")
    assert resp.status_code == 400
    assert "not a valid microversion" in resp.json["badRequest"]["message"]
    assert env.api.get("/v2.1/flavors", version="1.9").status_code == 406


def test_no_token_is_401_in_nova_format(env):
    resp = env.app.test_client().get("/v2.1/servers")
    assert resp.status_code == 401
    assert resp.json["unauthorized"]["code"] == 401


def test_healthz_names_the_domain_type(env):
    body = env.app.test_client().get("/healthz").json
    assert body.get("status") == "ok" and body["info"].startswith("domain type fake"), body
