"""`egret network purge` (a forced join): this box's data plane goes, its database stays for the join to drop."""
from __future__ import annotations

from appliance import cli
from appliance.testing.plugin import make_settings
from services.network import purge

EMPTY = {"bridges": [], "netns": [], "dhcp": [], "nft_tables": [], "floating_ips": []}


def test_purge_tears_down_the_networks_data_plane_and_keeps_the_rows(app, alice, alice_net, snapshot, driver):
    net, _ = alice_net
    alice.ok("POST", "/v2.0/ports", {"port": {"network_id": net["id"]}})
    held = driver.inventory()
    assert held["bridges"] and held["dhcp"] == [net["id"]] and held["nft_tables"]
    rows = snapshot()

    done = purge.purge(app.extensions["egret.manager"].settings, driver)
    assert f"network: removed bridge {held['bridges'][0]}" in done
    assert f"network: removed dnsmasq of network {net['id']}" in done
    assert f"network: removed nftables table {held['nft_tables'][0]}" in done
    assert {k: v for k, v in driver.inventory().items() if k in EMPTY} == EMPTY
    assert snapshot() == rows   # the purge never writes the database

    assert purge.purge(app.extensions["egret.manager"].settings, driver) == [
        f"network: data plane of prefix {driver.prefix} already empty"]


def test_the_command_on_a_box_where_the_network_never_ran_touches_nothing(tmp_path, capsys):
    box = make_settings(tmp_path / "box")   # real drivers: the command must not even look for links
    for _ in range(2):
        assert cli.main(["--state-dir", str(box.state_dir), "network", "purge"]) == 0
        assert capsys.readouterr().out == "network: no network database, nothing to purge\n"
    assert not (box.state_dir / "network.db").exists()
