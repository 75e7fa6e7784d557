"""`egret network purge` on the real Linux data plane (what `join --force` runs): the box's bridge, VXLAN link,
DHCP namespace, dnsmasq and nft table go; a second run finds nothing."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from appliance import config
from appliance.testing.plugin import make_settings
from services.network.drivers import base, names

pytestmark = pytest.mark.integration


def _topology(prefix: str) -> base.Topology:
    net_id, dhcp_id, port_id = (secrets.token_hex(16) for _ in range(3))
    net = base.NetSpec(id=net_id, bridge=names.bridge(net_id), network_type="vxlan", physical_network=None,
                       segmentation_id=int(net_id[:4], 16) % 4000 + 24000, mtu=1450)
    sub = base.SubnetSpec(id=secrets.token_hex(16), cidr="10.41.0.0/24", ip_version=4, gateway_ip="10.41.0.1",
                          dns_nameservers=[], host_routes=[], mtu=1450)
    dhcp = base.DhcpSpec(network_id=net_id, netns=names.dhcp_netns(prefix, net_id),
                         iface=base.Iface(dhcp_id, names.tap(dhcp_id), names.dhcp_inner(dhcp_id),
                                          "fa:16:3e:00:41:02", net.bridge, ["10.41.0.2/24"]),
                         subnets=[sub], hosts=[])
    port = base.PortSpec(id=port_id, tap=names.tap(port_id), bridge=net.bridge, mac="fa:16:3e:00:41:05",
                         ips=["10.41.0.5"], rules=[base.SgRule("egress", "IPv4", None, None, None, None)])
    return base.Topology(networks=[net], dhcp=[dhcp], ports=[port])


@pytest.mark.skipif(os.geteuid() != 0, reason="the Linux driver needs root (CAP_NET_ADMIN)")
def test_network_purge_tears_down_the_boxs_data_plane(tmp_path):
    # pyroute2: only where the real data plane runs
    from services.network.drivers.linux import LinuxDriver
    prefix = "p" + secrets.token_hex(3)
    box = make_settings(tmp_path / "box", service={"network": {
        "prefix": prefix, "external_upstream": {}, "vxlan_local_ip": "127.0.0.1",
        "vxlan_port": 30000 + secrets.randbelow(20000)}})
    (box.state_dir / "network.db").touch()   # the network service ran here
    driver = LinuxDriver(box)
    try:
        driver.apply(_topology(prefix))
        held = driver.inventory()
        assert held["bridges"] and held["netns"] and held["dhcp"] and held["nft_tables"], held
        env = {**os.environ, **config.to_env(box)}

        def purge():
            return subprocess.run([sys.executable, "-m", "appliance.cli", "network", "purge"], env=env, check=True,
                                  capture_output=True, text=True, timeout=120).stdout.splitlines()
        done = purge()
        assert f"network: removed bridge {held['bridges'][0]}" in done
        assert f"network: removed namespace {held['netns'][0]}" in done
        assert f"network: removed dnsmasq of network {held['dhcp'][0]}" in done
        assert f"network: removed nftables table {held['nft_tables'][0]}" in done
        after = LinuxDriver(box).inventory()
        assert not any(after[k] for k in ("bridges", "netns", "dhcp", "nft_tables")), after
        assert purge() == [f"network: data plane of prefix {prefix} already empty"]
    finally:
        driver.teardown()
