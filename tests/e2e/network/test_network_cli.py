"""e2e: the real `egret up` (identity + network on the Linux data plane) driven by the unmodified openstack CLI."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from appliance.testing.cloud import RunningCloud

pytestmark = pytest.mark.e2e


def _prefix(state_dir) -> str:
    from appliance.config import Settings
    from services.network.conf import section
    return section(Settings(state_dir=state_dir))["prefix"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the network service's data plane needs root (namespaces, nftables), as on the build machines")
    state = tmp_path_factory.mktemp("netcloud").absolute()
    extra = {"EGRET_SERVICE": json.dumps({"network": {"cleanup_on_exit": True, "reconcile_interval": 2}})}
    c = RunningCloud(state, services=["identity", "network"], extra_env=extra).start()
    yield c
    assert c.stop() == 0
    prefix = _prefix(state)
    leftovers = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                 if n.startswith(prefix + "-")]
    assert leftovers == [], f"egret up left namespaces behind: {leftovers}"


def test_cli_network_workflow(cloud):
    osc, js = cloud.openstack, cloud.openstack_json
    public = js("network", "create", "--external", "--provider-network-type", "flat",
                "--provider-physical-network", "public", "public")
    assert public["router:external"] is True
    js("subnet", "create", "--network", "public", "--subnet-range", "203.0.113.0/24", "--no-dhcp",
       "--gateway", "203.0.113.1", "--allocation-pool", "start=203.0.113.10,end=203.0.113.50", "public-sub")
    private = js("network", "create", "private")
    sub = js("subnet", "create", "--network", "private", "--subnet-range", "10.80.0.0/24", "private-sub")
    assert sub["gateway_ip"] == "10.80.0.1" and sub["network_id"] == private["id"]
    router = js("router", "create", "r1")
    osc("router", "add", "subnet", "r1", "private-sub")
    osc("router", "set", "--external-gateway", "public", "r1")
    router = js("router", "show", "r1")
    gw_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    fip = js("floating", "ip", "create", "public")
    assert fip["floating_ip_address"].startswith("203.0.113.")
    rule = js("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default")
    assert rule["port_range_min"] == 22
    port = js("port", "create", "--network", "private", "p1")
    assert port["fixed_ips"][0]["ip_address"].startswith("10.80.0.")
    assert "p1" in [p["Name"] for p in js("port", "list")]
    osc("floating", "ip", "set", "--port", "p1", fip["floating_ip_address"])
    assert js("floating", "ip", "show", fip["floating_ip_address"])["port_id"] == port["id"]

    # the data plane is real: the outside host reaches the router's gateway through the external bridge
    prefix = _prefix(cloud.state_dir)
    ping = subprocess.run(["ip", "netns", "exec", f"{prefix}-ext", "ping", "-c", "2", "-W", "2", "-i", "0.3", gw_ip],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert f"{prefix}-qrouter-{router['id']}" in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                                text=True).stdout

    # kill the service hard, wreck its data plane, and let the supervisor's restart reconcile it back
    import signal
    import time
    state = json.loads((cloud.state_dir / "run" / "supervisor.json").read_text())
    os.killpg(state["units"]["network"]["pid"], signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", f"{prefix}-qrouter-{router['id']}"], check=True)
    subprocess.run(["ip", "link", "del", "brq" + private["id"][:11]], check=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        ping = subprocess.run(["ip", "netns", "exec", f"{prefix}-ext", "ping", "-c", "1", "-W", "1", gw_ip],
                              capture_output=True)
        if ping.returncode == 0 and subprocess.run(["ip", "link", "show", "brq" + private["id"][:11]],
                                                   capture_output=True).returncode == 0:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the restarted service did not rebuild the router and bridge\n" + cloud.logs())

    # and everything deletes again
    osc("floating", "ip", "delete", fip["floating_ip_address"])
    osc("port", "delete", "p1")
    osc("security", "group", "rule", "delete", rule["id"])
    osc("router", "unset", "--external-gateway", "r1")
    osc("router", "remove", "subnet", "r1", "private-sub")
    osc("router", "delete", "r1")
    osc("subnet", "delete", "private-sub")
    osc("network", "delete", "private")
    osc("subnet", "delete", "public-sub")
    osc("network", "delete", "public")
    assert js("network", "list") == []
    assert js("router", "list") == []


def test_cli_error_is_neutron_shaped(cloud):
    proc = cloud.openstack("subnet", "create", "--network", "nope", "--subnet-range", "10.0.0.0/24", "x", check=False)
    assert proc.returncode != 0 and "nope" in proc.stderr


def test_openstacksdk_cloud_layer(cloud):
    """What Ansible's openstack.cloud uses: full lists, ports by device, FIP by port, FIP create with a port."""
    import openstack
    conn = openstack.connect(**cloud.auth)
    try:
        public = conn.network.create_network(name="sdk-public", is_router_external=True,
                                             provider_network_type="flat", provider_physical_network="public")
        conn.network.create_subnet(network_id=public.id, cidr="203.0.113.0/24", ip_version=4, is_dhcp_enabled=False,
                                   gateway_ip="203.0.113.1",
                                   allocation_pools=[{"start": "203.0.113.60", "end": "203.0.113.70"}])
        net = conn.network.create_network(name="sdk-private")
        sub = conn.network.create_subnet(network_id=net.id, cidr="10.81.0.0/24", ip_version=4)
        router = conn.network.create_router(name="sdk-r", external_gateway_info={"network_id": public.id})
        conn.network.add_interface_to_router(router, subnet_id=sub.id)
        port = conn.network.create_port(network_id=net.id, device_id="server-1", device_owner="compute:nova")
        assert {n.name for n in conn.list_networks()} >= {"sdk-public", "sdk-private"}
        assert sub.id in {s.id for s in conn.list_subnets()}
        assert [p.id for p in conn.list_ports(filters={"device_id": "server-1"})] == [port.id]
        fip = conn.network.create_ip(floating_network_id=public.id, port_id=port.id,
                                     fixed_ip_address=port.fixed_ips[0]["ip_address"])
        assert fip.floating_ip_address.startswith("203.0.113.") and fip.name == fip.floating_ip_address
        assert [f.id for f in conn.network.ips(port_id=port.id)] == [fip.id]
        conn.network.delete_ip(fip)
        conn.network.delete_port(port)
        conn.network.remove_interface_from_router(router, subnet_id=sub.id)
        conn.network.delete_router(router)
        conn.network.delete_network(net)
        conn.network.delete_network(public)
    finally:
        conn.close()
