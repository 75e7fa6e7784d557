"""Real L2: DHCP leases from dnsmasq, VM-to-VM traffic on a bridge, project isolation, the metadata path."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from network_dp_support import sh
from services.network.conf import section

pytestmark = pytest.mark.integration


def test_two_vms_get_leases_and_ping(cloud):
    net, sub = cloud.network(cloud.a, "10.61.0.0/24")
    p1, p2 = cloud.port(cloud.a, net, name="vm1"), cloud.port(cloud.a, net, name="vm2")
    vm1, vm2 = cloud.vm(p1), cloud.vm(p2)
    lease = vm1.dhcp()
    assert f"ip={vm1.ip}" in lease and "router=10.61.0.1" in lease
    assert "169.254.169.254/32" in lease          # option 121 carries the metadata route
    vm2.dhcp()
    assert vm1.ping(vm2.ip) and vm2.ping(vm1.ip)
    # DNS: dnsmasq answers the port's host name
    out = vm1.run("busybox", "nslookup", "-type=a", f"host-{vm2.ip.replace('.', '-')}.openstacklocal", "10.61.0.2",
                  check=False).stdout
    assert vm2.ip in out
    # port status follows the tap
    cloud.manager.refresh_port_status()
    assert cloud.a("GET", f"/v2.0/ports/{p1['id']}")["port"]["status"] == "ACTIVE"


def test_new_port_reservation_reloads_dnsmasq(cloud):
    net, _ = cloud.network(cloud.a, "10.62.0.0/24")
    port = cloud.port(cloud.a, net, fixed_ips=[{"ip_address": "10.62.0.77"}])
    vm = cloud.vm(port)
    assert "ip=10.62.0.77" in vm.dhcp()
    port = cloud.a("PUT", f"/v2.0/ports/{port['id']}", {"port": {"fixed_ips": [{"ip_address": "10.62.0.78"}]}})["port"]
    vm.run("ip", "addr", "flush", "dev", "eth0")
    assert "ip=10.62.0.78" in vm.dhcp()


def test_deleted_port_releases_its_lease_for_the_next_port(cloud):
    """A VM deleted and replaced by another on the same address (another MAC) gets a lease at once."""
    net, _ = cloud.network(cloud.a, "10.66.0.0/24")
    first = cloud.port(cloud.a, net, fixed_ips=[{"ip_address": "10.66.0.50"}])
    vm = cloud.vm(first)
    assert "ip=10.66.0.50" in vm.dhcp()
    vm.destroy()
    cloud.a("DELETE", f"/v2.0/ports/{first['id']}", status=204)
    second = cloud.port(cloud.a, net, fixed_ips=[{"ip_address": "10.66.0.50"}])
    assert second["mac_address"] != first["mac_address"]
    assert "ip=10.66.0.50" in cloud.vm(second).dhcp()


def test_projects_are_isolated(cloud):
    net_a, _ = cloud.network(cloud.a, "10.63.0.0/24", "a")
    net_b, _ = cloud.network(cloud.b, "10.64.0.0/24", "b")
    vm_a = cloud.vm(cloud.port(cloud.a, net_a))
    vm_b = cloud.vm(cloud.port(cloud.b, net_b))
    vm_a.dhcp()
    vm_b.dhcp()
    # even with the other subnet declared on-link, there is no L2 path between the two bridges
    vm_a.run("ip", "route", "add", "10.64.0.0/24", "dev", "eth0")
    vm_b.run("ip", "route", "add", "10.63.0.0/24", "dev", "eth0")
    assert not vm_a.ping(vm_b.ip, count=1)
    assert not vm_b.ping(vm_a.ip, count=1)
    assert vm_a.ping("10.63.0.2", count=1)        # its own DHCP server answers: the check can fail


def test_metadata_reaches_compute_with_signed_instance_id(cloud, net_env):
    net, _ = cloud.network(cloud.a, "10.65.0.0/24")
    port = cloud.port(cloud.a, net)
    vm = cloud.vm(port)
    vm.dhcp()
    out = vm.run("busybox", "wget", "-q", "-O", "-", "http://169.254.169.254/openstack/latest/meta_data.json",
                 timeout=20).stdout
    assert json.loads(out) == {"uuid": port["device_id"]}
    seen = net_env["metadata"].requests[-1]
    secret = (net_env["settings"].state_dir / "secrets" / "metadata-proxy-secret").read_text().strip()
    assert seen["X-Instance-ID"] == port["device_id"] and seen["X-Forwarded-For"] == vm.ip
    assert seen["X-Neutron-Network-ID"] == net["id"] and seen["X-Tenant-ID"] == "p-a"
    assert seen["X-Instance-ID-Signature"] == hmac.new(secret.encode(), port["device_id"].encode(),
                                                       hashlib.sha256).hexdigest()
    mode = (net_env["settings"].state_dir / "secrets" / "metadata-proxy-secret").stat().st_mode & 0o777
    assert mode == 0o640  # compute (another user of group egret on the box) reads it too; others do not


def test_vlan_network(cloud, net_env):
    """Two VLAN provider networks on the physical network "public" (the fixture's veth <prefix>ext0 into the
    upstream namespace) with the SAME CIDR: only the 802.1Q tag keeps them apart."""
    if not cloud.driver.vlan_supported():
        pytest.skip("no 802.1Q on this kernel (DESIGN.md §9); tested inside the appliance image")
    nets = {}
    for vid in (101, 102):
        net = cloud.admin("POST", "/v2.0/networks", {"network": {
            "name": f"vlan{vid}", "provider:network_type": "vlan", "provider:physical_network": "public",
            "provider:segmentation_id": vid}})["network"]
        assert net["provider:segmentation_id"] == vid
        cloud.admin("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.71.0.0/24",
                                                          "ip_version": 4}})
        nets[vid] = net
    vm1, vm2, vm3 = (cloud.vm(cloud.port(cloud.admin, nets[vid], fixed_ips=[{"ip_address": ip}]))
                     for vid, ip in ((101, "10.71.0.11"), (101, "10.71.0.12"), (102, "10.71.0.13")))
    cloud.sync()
    uplink = section(net_env["settings"])["physical_interface_mappings"]["public"]
    for vid, net in nets.items():
        assert "brq" + net["id"][:11] in cloud.driver.inventory()["bridges"]
        # the bridge's uplink is an 802.1Q sub-interface of the physical interface
        detail = sh("ip", "-d", "link", "show", "vl-" + net["id"][:11]).stdout
        assert f"@{uplink}:" in detail and f"vlan protocol 802.1Q id {vid} " in detail, detail
        assert f"master brq{net['id'][:11]}" in detail, detail
    for vm in (vm1, vm2, vm3):
        assert f"ip={vm.ip}" in vm.dhcp()
    assert vm1.ping(vm2.ip) and vm2.ping(vm1.ip)
    # an outside host on VLAN 101 of the wire (a tagged sub-interface in the upstream namespace) is reached only
    # through the tag: this is traffic carried by 802.1Q, not just by the network's own bridge
    ext = net_env["ext"]
    sh("ip", "-n", ext, "link", "add", "link", "br-up", "name", "br-up.101", "type", "vlan", "id", "101")
    sh("ip", "-n", ext, "addr", "add", "10.71.0.200/24", "dev", "br-up.101")
    sh("ip", "-n", ext, "link", "set", "br-up.101", "up")
    assert vm1.ping("10.71.0.200", count=3), sh("ip", "-n", ext, "-s", "link", "show", "br-up.101").stdout
    # VLAN 102 shares the wire and the CIDR, yet reaches neither VLAN 101's VMs nor its outside host
    assert vm3.ping("10.71.0.2", count=1)        # its own network's DHCP port answers: the checks can fail
    assert not vm3.ping(vm1.ip, count=2)
    assert not vm3.ping("10.71.0.200", count=2)
    assert not vm1.ping(vm3.ip, count=2)
    # deleting VLAN 102 removes its sub-interface and bridge; VLAN 101 keeps carrying traffic
    vm3.destroy()
    cloud.admin("DELETE", f"/v2.0/ports/{vm3.port['id']}")
    cloud.admin("DELETE", f"/v2.0/networks/{nets[102]['id']}")
    cloud.sync()
    present = sh("ip", "-o", "link", "show").stdout
    assert "vl-" + nets[102]["id"][:11] not in present and "brq" + nets[102]["id"][:11] not in present
    assert "vl-" + nets[101]["id"][:11] in present
    assert vm1.ping("10.71.0.200", count=2)
