"""`egret fleet sites|label|decommission|groups` on the hub box (the hub's database, as `egret enrol-token`)."""
from __future__ import annotations

import json

import pytest

from appliance.cli import build_parser
from services.federation import open_database
from tests.unit.federation.conftest import peer, snapshot


@pytest.fixture
def fleet(settings, capsys):
    """Run `egret fleet ...` in-process against the hub's settings; returns (exit code, stdout, stderr)."""
    def _run(*argv):
        args = build_parser().parse_args(["fleet", *argv])
        code = args.handler(args, settings)
        open_database(settings)  # the command unbinds the models when it is done; the app's tests go on
        out = capsys.readouterr()
        return code, out.out, out.err
    return _run


@pytest.fixture
def fleet_of_three(client, admin, enrolled):
    for name, region, labels in (("edge-1", "eu", {"tier": "gold"}), ("edge-2", "eu", {"tier": "silver"}),
                                 ("edge-3", "us", {"tier": "gold"})):
        _, cert, _ = enrolled(name, info={"version": "0.1.0"})
        client.patch(f"/v1/sites/{name}", json={"site": {"labels": labels, "region": region}}, headers=admin)
        if name == "edge-1":
            client.post(f"/v1/sites/{name}/reports", json={"health": {"identity": True}}, environ_overrides=peer(cert))


def test_sites_with_filters(fleet, fleet_of_three):
    code, out, _ = fleet("sites")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "STATUS", "REGION", "VERSION"]
    assert [line.split()[:4] for line in lines[1:]] == [["edge-1", "online", "eu", "0.1.0"],
                                                         ["edge-2", "enrolled", "eu", "0.1.0"],
                                                         ["edge-3", "enrolled", "us", "0.1.0"]]
    assert "never" in lines[2] and lines[1].split()[-1] == "tier=gold"
    code, out, _ = fleet("sites", "--json", "--region", "eu", "--label", "tier=gold")
    assert code == 0 and [s["name"] for s in json.loads(out)] == ["edge-1"]
    code, out, _ = fleet("sites", "--json", "--status", "enrolled")
    assert [s["name"] for s in json.loads(out)] == ["edge-2", "edge-3"]
    code, _, err = fleet("sites", "--status", "bogus")
    assert code == 2 and "'status'" in err
    code, _, err = fleet("sites", "--label", "tier")
    assert code == 2 and "'--label'" in err and "key=value" in err


def test_label(fleet, fleet_of_three, client, admin):
    code, out, _ = fleet("label", "edge-2", "env=prod", "example.com/rack=r7")
    assert code == 0 and out.strip() == "Site 'edge-2' labels: env=prod,example.com/rack=r7,tier=silver"
    code, out, _ = fleet("label", "edge-2", "--remove", "tier", "--remove", "env", "--json")
    assert code == 0 and json.loads(out)["labels"] == {"example.com/rack": "r7"}
    assert client.get("/v1/sites/edge-2", headers=admin).json["site"]["labels"] == {"example.com/rack": "r7"}
    before = snapshot()
    for argv, needle in ((("edge-2", "bad-=x"), "'labels'"), (("edge-2", "k=v\n"), "'labels/k'"),
                         (("edge-2", "novalue"), "key=value"), (("edge-2", "k=" + "v" * 64), "'labels/k'")):
        code, _, err = fleet("label", *argv)
        assert code == 2 and needle in err, (argv, err)
    code, _, err = fleet("label", "nowhere", "a=b")
    assert code == 1 and "Could not find site: nowhere" in err
    code, _, err = fleet("label", "edge-2")
    assert code == 2 and "needs key=value" in err
    assert snapshot() == before


def test_decommission(fleet, fleet_of_three, client, admin):
    code, out, _ = fleet("decommission", "edge-3")
    assert code == 0 and out.startswith("Site 'edge-3' decommissioned at ")
    assert client.get("/v1/sites/edge-3", headers=admin).json["site"]["status"] == "decommissioned"
    code, out, _ = fleet("sites", "--status", "decommissioned", "--json")
    assert [s["name"] for s in json.loads(out)] == ["edge-3"]
    code, _, err = fleet("decommission", "nowhere")
    assert code == 1 and "nowhere" in err


def test_groups(fleet, fleet_of_three, client, admin):
    code, out, _ = fleet("groups")
    assert code == 0 and out.splitlines()[1:] == []
    client.post("/v1/site-groups", json={"site_group": {"name": "gold", "selector": {"tier": "gold"},
                                                        "max_parallel": 2}}, headers=admin)
    code, out, _ = fleet("groups")
    assert out.splitlines()[1].split() == ["gold", "tier=gold", "2", "0", "edge-1,edge-3"]
    code, out, _ = fleet("groups", "--json")
    assert json.loads(out)[0]["sites"] == ["edge-1", "edge-3"]
