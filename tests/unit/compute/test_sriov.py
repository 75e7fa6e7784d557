"""SR-IOV ports on the compute side: a port bound to a virtual function becomes a hostdev (vnic_type direct) or a
macvtap (vnic_type macvtap) interface of the guest; one that asks for a VF and is bound without one fails."""
import xml.etree.ElementTree as ET

import pytest

from services.compute import sriov
from services.compute.drivers import base, codec
from services.compute.drivers.libvirt.xml import vif_element, vif_from_xml
from services.compute.faults import BuildError
from services.compute.metadata import network_data
from services.compute.models import Instance, database

VF = {"pci_slot": "0000:03:10.2", "physical_network": "physnet1", "pci_vendor_info": "8086:10ca",
      "netdev": "enp3s0f0v2"}


def _port(env, vnic_type):
    return env.network.create_port({"network_id": env.net["id"], "binding:vnic_type": vnic_type}, env.member_token)


def _interfaces(env, sid):
    return ET.fromstring(env.driver.xml("egunit-" + sid)).findall("./devices/interface")


def _server(env, sid):
    return env.api.get(f"/v2.1/servers/{sid}").json["server"]


def test_a_direct_port_on_a_vf_becomes_a_hostdev_interface_with_its_vlan(env):
    env.network.vfs, env.network.vf_vlan = [dict(VF)], "100"
    port = _port(env, "direct")
    sid = env.boot(networks=[{"port": port["id"]}])
    assert _server(env, sid)["status"] == "ACTIVE"
    assert port["binding:vif_type"] == "hw_veb" and port["binding:profile"]["pci_slot"] == "0000:03:10.2"
    [nic] = _interfaces(env, sid)
    assert nic.get("type") == "hostdev" and nic.get("managed") == "yes"
    assert nic.find("mac").get("address") == port["mac_address"]
    addr = nic.find("source/address").attrib
    assert addr == {"type": "pci", "domain": "0x0000", "bus": "0x03", "slot": "0x10", "function": "0x2"}
    assert nic.find("vlan/tag").get("id") == "100"
    assert nic.find("target") is None and "tap" not in ET.tostring(nic, encoding="unicode")
    with database.connection_context():
        [link] = network_data(Instance.get_by_id(sid))["links"]
    assert link["type"] == "hw_veb" and link["ethernet_mac_address"] == port["mac_address"]


def test_vlan_0_is_untagged(env):
    env.network.vfs, env.network.vf_vlan = [dict(VF)], "0"
    sid = env.boot(networks=[{"port": _port(env, "direct")["id"]}])
    [nic] = _interfaces(env, sid)
    assert nic.get("type") == "hostdev" and nic.find("vlan") is None


def test_a_macvtap_port_on_a_vf_becomes_a_direct_interface_on_its_netdev(env):
    env.network.vfs = [dict(VF)]
    port = _port(env, "macvtap")
    sid = env.boot(networks=[{"port": port["id"]}])
    assert _server(env, sid)["status"] == "ACTIVE"
    [nic] = _interfaces(env, sid)
    assert nic.get("type") == "direct"
    assert nic.find("source").attrib == {"dev": "enp3s0f0v2", "mode": "passthrough"}
    assert nic.find("model").get("type") == "virtio" and nic.find("mac").get("address") == port["mac_address"]


@pytest.mark.parametrize("vnic_type", ["direct", "macvtap"])
def test_a_vf_port_bound_without_a_vf_fails_the_build_instead_of_becoming_a_tap(env, vnic_type):
    port = _port(env, vnic_type)   # no VF inventory: bound as today's network service binds it, to a bridge
    sid = env.boot(networks=[{"port": port["id"]}])
    server = _server(env, sid)
    assert server["status"] == "ERROR"
    assert server["fault"]["message"] == (f"Port {port['id']} asks for binding:vnic_type={vnic_type}, but the network "
                                          "service bound it without a virtual function (binding:profile.pci_slot).")
    assert "egunit-" + sid not in env.driver.domains
    assert port["binding:host_id"] == "" and port["device_id"] == ""   # the user's port is let go again


def test_attaching_a_vf_port_bound_without_a_vf_is_400_and_lets_the_port_go(env):
    sid = env.boot()
    port = _port(env, "direct")
    resp = env.api.post(f"/v2.1/servers/{sid}/os-interface", json={"interfaceAttachment": {"port_id": port["id"]}})
    assert resp.status_code == 400
    assert "binding:profile.pci_slot" in resp.json["badRequest"]["message"]
    assert port["binding:host_id"] == "" and port["device_id"] == ""
    assert [n.get("type") for n in _interfaces(env, sid)] == ["bridge"]
    assert len(env.api.get(f"/v2.1/servers/{sid}/os-interface").json["interfaceAttachments"]) == 1


def test_a_vf_port_attaches_as_hostdev_and_detaches(env):
    sid = env.boot()
    env.network.vfs, env.network.vf_vlan = [dict(VF)], "42"
    port = _port(env, "direct")
    resp = env.api.post(f"/v2.1/servers/{sid}/os-interface", json={"interfaceAttachment": {"port_id": port["id"]}})
    assert resp.status_code == 200, resp.json
    assert [n.get("type") for n in _interfaces(env, sid)] == ["bridge", "hostdev"]
    assert env.api.delete(f"/v2.1/servers/{sid}/os-interface/{port['id']}").status_code == 202
    assert [n.get("type") for n in _interfaces(env, sid)] == ["bridge"]


def test_a_hostdev_interface_survives_a_resize(env):
    env.network.vfs, env.network.vf_vlan = [dict(VF)], "100"
    sid = env.boot(networks=[{"port": _port(env, "direct")["id"]}])
    before = [ET.tostring(n) for n in _interfaces(env, sid)]
    resp = env.api.post(f"/v2.1/servers/{sid}/action", json={"resize": {"flavorRef": "1"}})
    assert resp.status_code == 202
    assert _server(env, sid)["status"] == "VERIFY_RESIZE"
    assert "<memory unit=\"MiB\">512</memory>" in env.driver.xml("egunit-" + sid)
    assert [ET.tostring(n) for n in _interfaces(env, sid)] == before


# --- the binding, as untrusted input ------------------------------------------------------------------------------
def _bound(vnic="direct", vif_type="hw_veb", profile=None, details=None):
    return {"id": "p1", "binding:vnic_type": vnic, "binding:vif_type": vif_type,
            "binding:profile": {"pci_slot": "0000:03:10.2"} if profile is None else profile,
            "binding:vif_details": {"vlan": "100"} if details is None else details}


@pytest.mark.parametrize("port, needle", [
    (_bound(profile={}), "binding:profile.pci_slot"),
    (_bound(profile="0000:03:10.2"), "not an object"),
    (_bound(details=["vlan"]), "not an object"),
    (_bound(vif_type="bridge"), "binding:vif_type=bridge, not hw_veb"),
    (_bound(profile={"pci_slot": "03:10.2"}), "pci_address"),
    (_bound(profile={"pci_slot": "0000:03:10.8"}), "pci_address"),
    (_bound(profile={"pci_slot": "0000:03:10.2'/><x"}), "pci_address"),
    (_bound(profile={"pci_slot": 1234}), "pci_address"),
    (_bound(profile={"pci_slot": "zzzz:03:10.2"}), "pci_address"),
    (_bound(details={"vlan": "4095"}), "vlan"),
    (_bound(details={"vlan": "-1"}), "vlan"),
    (_bound(details={"vlan": "10a"}), "vlan"),
    (_bound(details={"vlan": True}), "vlan"),
    (_bound(details={"vlan": 1.5}), "vlan"),
    (_bound("macvtap", details={}), "binding:vif_details.macvtap_source"),
    (_bound("macvtap", details={"macvtap_source": "a" * 16}), "source_dev"),
    (_bound("macvtap", details={"macvtap_source": "../eth0"}), "source_dev"),
    (_bound("macvtap", details={"macvtap_source": "eth 0"}), "source_dev"),
    (_bound("macvtap", details={"macvtap_source": "eth0\n"}), "source_dev"),
    (_bound("macvtap", details={"macvtap_source": ["eth0"]}), "source_dev"),
    (_bound("macvtap", details={"macvtap_source": "eth0", "macvtap_mode": "bogus"}), "mode"),
])
def test_hostile_bindings_fail_naming_the_field(port, needle):
    with pytest.raises(BuildError, match="p1") as exc:
        sriov.vif_spec(port, "fa:16:3e:00:00:01")
    assert needle in str(exc.value)


def test_a_good_binding_maps_to_the_spec():
    vif = sriov.vif_spec(_bound(profile={"pci_slot": "0000:AF:10.2"}), "fa:16:3e:00:00:01")
    assert (vif.kind, vif.pci_address, vif.vlan, vif.port_id) == ("hostdev", "0000:af:10.2", 100, "p1")
    vif = sriov.vif_spec(_bound("macvtap", details={"macvtap_source": "enp3s0f0v2"}), "fa:16:3e:00:00:01")
    assert (vif.kind, vif.source_dev, vif.mode, vif.vlan) == ("direct", "enp3s0f0v2", "passthrough", None)


@pytest.mark.parametrize("kwargs, field", [
    ({"kind": "vhostuser"}, "kind"),
    ({"kind": "hostdev"}, "pci_address"),
    ({"kind": "hostdev", "pci_address": "0000:03:10.2", "vlan": 0}, "vlan"),
    ({"kind": "hostdev", "pci_address": "0000:03:10.2", "vlan": "100"}, "vlan"),
    ({"kind": "direct"}, "source_dev"),
    ({"kind": "direct", "source_dev": "a/b"}, "source_dev"),
])
def test_vif_spec_checks_its_fields_on_construction(kwargs, field):
    with pytest.raises(base.UnsupportedSpec, match=field):
        base.VifSpec(mac="fa:16:3e:00:00:01", **kwargs)


@pytest.mark.parametrize("vif", [
    base.VifSpec(kind="hostdev", mac="fa:16:3e:00:00:01", pci_address="0000:03:10.2", vlan=100),
    base.VifSpec(kind="hostdev", mac="fa:16:3e:00:00:02", pci_address="0001:af:1f.7"),
    base.VifSpec(kind="direct", mac="fa:16:3e:00:00:03", source_dev="enp3s0f0v2"),
    base.VifSpec(bridge="brq0123456789a", tap="tap0123456789a", mac="fa:16:3e:00:00:04"),
])
def test_each_kind_reads_back_from_its_xml_and_crosses_the_wire(vif):
    assert vif_from_xml(vif_element(vif)) == vif
    assert codec.decode(codec.encode(vif)) == vif


@pytest.mark.parametrize("field, value", [("pci_address", "0000:03:10.9"), ("vlan", 9999), ("source_dev", "x" * 40),
                                          ("kind", "ethernet")])
def test_a_bad_vif_from_the_wire_is_a_codec_error_naming_the_field(field, value):
    good = codec.encode(base.VifSpec(kind="direct" if field == "source_dev" else "hostdev", mac="fa:16:3e:00:00:01",
                                     pci_address="0000:03:10.2", source_dev="eth0"))
    good["fields"][field] = value
    with pytest.raises(codec.CodecError, match=field):
        codec.decode(good, "vif")
