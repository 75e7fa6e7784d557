"""A bound port backed by an SR-IOV virtual function -> the guest's interface (Neutron's hw_veb binding, as Nova
reads it): binding:vnic_type direct is the VF given whole (hostdev), macvtap is macvtap on the VF's netdev.

The binding comes from the network service: every value is checked (VifSpec checks its own fields too) and a
port that asks for a VF but was bound without one fails the build or attach instead of becoming a bridge tap."""
from __future__ import annotations

from services.compute.drivers import specs
from services.compute.faults import BuildError

VF_VNIC_TYPES = ("direct", "macvtap")
VF_VIF_TYPES = ("hw_veb",)
# Neutron's/Nova's key names (nova/network/model.py VIF_DETAILS_*)
VLAN = "vlan"
MACVTAP_SOURCE = "macvtap_source"
MACVTAP_MODE = "macvtap_mode"


def wants_vf(port: dict) -> bool:
    return port.get("binding:vnic_type") in VF_VNIC_TYPES


def vif_spec(port: dict, mac: str) -> specs.VifSpec:
    """The VifSpec of a port whose binding:vnic_type is direct or macvtap; BuildError naming the port otherwise."""
    pid, vnic = port.get("id"), port.get("binding:vnic_type")
    profile = port.get("binding:profile") or {}
    details = port.get("binding:vif_details") or {}
    if not isinstance(profile, dict) or not isinstance(details, dict):
        raise BuildError(f"Port {pid} has a binding:profile or binding:vif_details that is not an object.")
    if not profile.get("pci_slot"):
        raise BuildError(f"Port {pid} asks for binding:vnic_type={vnic}, but the network service bound it without "
                         "a virtual function (binding:profile.pci_slot).")
    vif_type = port.get("binding:vif_type")
    if vif_type not in VF_VIF_TYPES:
        raise BuildError(f"Port {pid} asks for binding:vnic_type={vnic}, but the network service bound it with "
                         f"binding:vif_type={str(vif_type)[:20]}, not hw_veb.")
    try:
        if vnic == "direct":
            return specs.VifSpec(kind="hostdev", mac=mac, port_id=pid, pci_address=profile["pci_slot"],
                                 vlan=_vlan(details.get(VLAN)))
        if not details.get(MACVTAP_SOURCE):
            raise BuildError(f"Port {pid} asks for binding:vnic_type=macvtap, but the network service bound it "
                             f"without the virtual function's device (binding:vif_details.{MACVTAP_SOURCE}).")
        return specs.VifSpec(kind="direct", mac=mac, port_id=pid, source_dev=details[MACVTAP_SOURCE],
                             mode=details.get(MACVTAP_MODE) or "passthrough")
    except specs.DriverError as exc:
        raise BuildError(f"Port {pid}'s binding cannot be used: {exc}") from None


def _vlan(value) -> int | None:
    """binding:vif_details.vlan ("100"; "0", "" or absent: untagged) -> 1-4094 or None; anything else fails."""
    if value in (None, "", "0", 0):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise specs.UnsupportedSpec(f"Invalid vlan {str(value)[:20]!r}: expected 1-4094.")
    return int(value)
