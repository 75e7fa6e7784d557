"""In-memory network, image and volume clients with the HTTP clients' contract and the services' access rules.

Tokens are registered with FakeAuth (token -> project and roles); token=None is compute's own service user
(roles admin and service, as identity's bootstrap gives it). As in the real services, a user sees only their
project's resources (plus shared networks and public or shared images), and only the service or an admin may
set a port's binding. `calls` records (client, method, resource id, "service" or the caller's project) for tests.
"""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from services.compute.external import ExternalError

CHUNK = 1 << 20


def _checksums(data: bytes) -> dict:
    """What Glance records at upload: md5 as `checksum`, sha512 as os_hash_algo/os_hash_value."""
    return {"checksum": hashlib.md5(data).hexdigest(), "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(data).hexdigest()}


SERVICE = {"project_id": "service", "roles": {"admin", "service"}, "who": "service"}


class FakeAuth:
    def __init__(self):
        self.tokens: dict[str, dict] = {}
        self.calls: list[tuple] = []

    def register(self, token: str, project_id: str, roles) -> None:
        self.tokens[token] = {"project_id": project_id, "roles": set(roles), "who": project_id}

    def who(self, token) -> dict:
        if token is None:
            return SERVICE
        if token not in self.tokens:
            raise ExternalError("The request you have made requires authentication.", 401, "identity")
        return self.tokens[token]

    def privileged(self, caller: dict) -> bool:
        return bool(caller["roles"] & {"admin", "service"})

    def record(self, client: str, method: str, rid, caller: dict) -> None:
        self.calls.append((client, method, rid, caller["who"]))


def _mac() -> str:
    raw = uuid.uuid4().bytes
    return "fa:16:3e:%02x:%02x:%02x" % (raw[0], raw[1], raw[2])


class FakeNetwork:
    def __init__(self, auth: FakeAuth | None = None):
        self.auth = auth or FakeAuth()
        self.networks: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floatingips: dict[str, dict] = {}
        self.security_groups: dict[str, dict] = {}
        self.add_security_group("default")
        self._next_ip = 10
        # SR-IOV: free virtual functions, each {"pci_slot", "physical_network", "pci_vendor_info", "netdev"};
        # empty (as today's network service): direct/macvtap ports are bound as bridge taps, without a VF
        self.vfs: list[dict] = []
        self.vf_vlan = ""   # binding:vif_details.vlan of a VF-backed port ("" or "0": untagged)

    def add_security_group(self, name: str, project_id="p-test") -> dict:
        sg = {"id": str(uuid.uuid4()), "name": name, "project_id": project_id, "tenant_id": project_id}
        self.security_groups[sg["id"]] = sg
        return sg

    def _mine(self, caller, item) -> bool:
        return self.auth.privileged(caller) or item.get("project_id") == caller["project_id"]

    def _filter(self, items, caller, filters, shared=False):
        return [i for i in items if (self._mine(caller, i) or (shared and i.get("shared")))
                and all(str(i.get(k)) == str(v) for k, v in filters.items())]

    def list_security_groups(self, token=None, **filters):
        return self._filter(self.security_groups.values(), self.auth.who(token), filters)

    def add_network(self, name="private", project_id="p-test", shared=False, external=False) -> dict:
        net = {"id": str(uuid.uuid4()), "name": name, "project_id": project_id, "tenant_id": project_id,
               "shared": shared, "router:external": external, "status": "ACTIVE", "subnets": [], "mtu": 1450}
        self.networks[net["id"]] = net
        return net

    def get_network(self, network_id, token=None):
        caller = self.auth.who(token)
        net = self.networks.get(network_id)
        if net is None or not (self._mine(caller, net) or net.get("shared")):
            raise ExternalError(f"Network {network_id} could not be found.", 404, "network")
        return net

    def list_networks(self, token=None, **filters):
        return self._filter(self.networks.values(), self.auth.who(token), filters, shared=True)

    def get_port(self, port_id, token=None):
        caller = self.auth.who(token)
        port = self.ports.get(port_id)
        if port is None or not self._mine(caller, port):
            raise ExternalError(f"Port {port_id} could not be found.", 404, "network")
        return port

    def _check_binding(self, body, caller, action):
        # the network service's rule network:binding: admin or service (services/network/policies.py)
        # a port's owner may ask for a vnic_type (Neutron's create_port:binding:vnic_type); the rest is the service's
        bound = sorted(k for k in body if k.startswith("binding:") and k != "binding:vnic_type")
        if bound and not self.auth.privileged(caller):
            raise ExternalError(f"(rule:{action}_port:{bound[0]}) is disallowed by policy.", 403, "network",
                                f"network {action} /v2.0/ports: (rule:{action}_port:{bound[0]}) is disallowed")

    def create_port(self, body, token=None):
        caller = self.auth.who(token)
        net = self.get_network(body["network_id"], token)
        self._check_binding(body, caller, "create")
        if body.get("project_id", caller["project_id"]) != caller["project_id"] and not self.auth.privileged(caller):
            raise ExternalError("(rule:create_port:project_id) is disallowed by policy.", 403, "network")
        self._next_ip += 1
        port = {"id": str(uuid.uuid4()), "network_id": net["id"], "mac_address": _mac(),
                "fixed_ips": [{"subnet_id": "fake-subnet", "ip_address": f"10.0.0.{self._next_ip}"}],
                "device_id": "", "device_owner": "", "binding:host_id": "", "binding:vif_type": "unbound",
                "binding:vif_details": {}, "security_groups": [], "status": "DOWN",
                "project_id": caller["project_id"] if token else net["project_id"]}
        port.update({k: v for k, v in body.items() if k != "network_id"})
        self.ports[port["id"]] = port
        self.auth.record("network", "create_port", port["id"], caller)
        return port

    def update_port(self, port_id, body, token=None):
        caller = self.auth.who(token)
        port = self.get_port(port_id, token)
        self._check_binding(body, caller, "update")
        port.update(body)
        if body.get("binding:host_id"):
            if port.get("binding:vnic_type") in ("direct", "macvtap") and (
                    self.vfs or port.get("binding:profile", {}).get("pci_slot")):
                self._bind_vf(port)
            else:
                port["binding:vif_type"] = "bridge"
                port["binding:vif_details"] = {"bridge_name": "brq" + port["network_id"][:11]}
            port["status"] = "ACTIVE"
            self.auth.record("network", "bind_port", port_id, caller)
        return port

    def _bind_vf(self, port):
        """Neutron's SR-IOV binding: vif_type hw_veb, the VF in binding:profile, its VLAN in vif_details."""
        if not port.get("binding:profile", {}).get("pci_slot"):
            vf = self.vfs.pop(0)
            port["binding:profile"] = {k: vf[k] for k in ("pci_slot", "physical_network", "pci_vendor_info")}
            port["_vf"] = vf
        vf = port.get("_vf") or {}
        port["binding:vif_type"] = "hw_veb"
        port["binding:vif_details"] = {"port_filter": False, "vlan": self.vf_vlan}
        if port["binding:vnic_type"] == "macvtap":
            port["binding:vif_details"].update({"macvtap_source": vf.get("netdev", ""), "macvtap_mode": "passthrough"})

    def delete_port(self, port_id, token=None):
        caller = self.auth.who(token)
        port = self.ports.get(port_id)
        if port is not None and self._mine(caller, port):
            self.ports.pop(port_id)
            self.auth.record("network", "delete_port", port_id, caller)

    def list_ports(self, token=None, **filters):
        return self._filter(self.ports.values(), self.auth.who(token), filters)

    def list_floatingips(self, token=None, **filters):
        return self._filter(self.floatingips.values(), self.auth.who(token), filters)

    def list_subnets(self, token=None, **filters):
        return []


class FakeImage:
    def __init__(self, auth: FakeAuth | None = None):
        self.auth = auth or FakeAuth()
        self.images: dict[str, dict] = {}
        self.files: dict[str, str] = {}
        self.uploaded: dict[str, int] = {}   # image id -> bytes uploaded
        self.blobs: dict[str, bytes] = {}
        self.members: dict[str, set] = {}

    def add_image(self, path: str | None = None, name="cirros", **props) -> dict:
        sums = _checksums(Path(path).read_bytes() if path else b"") if props.get("status", "active") == "active" \
            else {}
        image = {"id": str(uuid.uuid4()), "name": name, "status": "active", "disk_format": "qcow2",
                 "container_format": "bare", "min_disk": 0, "min_ram": 0, "size": 1, "visibility": "public",
                 "owner": "p-admin", **sums, **props}
        self.images[image["id"]] = image
        if path:
            self.files[image["id"]] = path
        return image

    def _visible(self, caller, image) -> bool:
        # the image service's rule (services/storage/images.py ImageManager._visible)
        return (self.auth.privileged(caller) or image.get("owner") == caller["project_id"]
                or image.get("visibility") in ("public", "community")
                or (image.get("visibility") == "shared" and caller["project_id"] in self.members.get(image["id"], ())))

    def get_image(self, image_id, token=None):
        image = self.images.get(image_id)
        if image is None or not self._visible(self.auth.who(token), image):
            raise ExternalError(f"No image found with ID {image_id}", 404, "image")
        return image

    def list_members(self, image_id, token=None):
        self.get_image(image_id, token)
        return [{"member_id": m, "image_id": image_id, "status": "accepted"} for m in self.members.get(image_id, ())]

    def download_chunks(self, image_id, token=None):
        self.get_image(image_id, token)
        self.auth.record("image", "download", image_id, self.auth.who(token))
        if image_id in self.blobs:
            data = self.blobs[image_id]
        elif self.files.get(image_id):
            data = Path(self.files[image_id]).read_bytes()
        else:
            data = b""
        return iter([data[i:i + CHUNK] for i in range(0, len(data), CHUNK)])

    def create_image(self, body, token=None):
        caller = self.auth.who(token)
        # as Glance: an image without data is queued until its upload
        props = {k: v for k, v in body.items() if k not in ("name", "owner")}
        return self.add_image(name=body.get("name", ""), owner=caller["project_id"], **{"status": "queued", **props})

    def upload_chunks(self, image_id, chunks, token=None):
        caller = self.auth.who(token)
        image = self.get_image(image_id, token)
        if not (self.auth.privileged(caller) or image.get("owner") == caller["project_id"]):
            raise ExternalError(f"You are not permitted to modify image {image_id}.", 403, "image")
        self.blobs[image_id] = b"".join(chunks)
        self.uploaded[image_id] = len(self.blobs[image_id])
        image.update(status="active", size=len(self.blobs[image_id]), **_checksums(self.blobs[image_id]))
        self.auth.record("image", "upload", image_id, caller)


VOLUME_HOST = "os-vol-host-attr:host"
ISCSI_TARGET_PREFIX = "iqn.2026-12.dev.egret:attachment-"


class FakeVolume:
    """Volumes as files on their node's disk; a node whose pool says iSCSI exports them to an initiator."""

    def __init__(self, auth: FakeAuth | None = None):
        self.auth = auth or FakeAuth()
        self.volumes: dict[str, dict] = {}
        self.attachments: dict[str, dict] = {}
        # node -> its pool's storage_protocol ("iSCSI": it exports to other nodes); a node not named is "file"
        self.protocols: dict[str, str] = {}
        # tests set this to storage's reason when an export is refused (no target there after all): the 409
        self.export_refusal: str | None = None

    def export_from(self, *nodes: str) -> None:
        """These nodes' storage exports volumes over iSCSI (their pools say so)."""
        self.protocols.update({n: "iSCSI" for n in nodes})

    def _node(self, vol) -> str | None:
        host = vol.get(VOLUME_HOST)
        return host.split("@", 1)[0] if isinstance(host, str) else None

    def get_pools(self, project_id, token=None):
        caller = self.auth.who(token)
        if not self.auth.privileged(caller):
            raise ExternalError("Policy doesn't allow scheduler_extension:scheduler_stats:get_pools to be "
                                "performed.", 403, "volume")
        nodes = set(self.protocols) | {self._node(v) for v in self.volumes.values() if self._node(v)}
        return [{"name": f"{n}@file#file", "capabilities": {"storage_protocol": self.protocols.get(n, "file"),
                                                          "volume_backend_name": "file"}} for n in sorted(nodes)]

    def add_volume(self, project_id="p-test", path="/dev/null", size=1, name="vol", node=None) -> dict:
        vol = {"id": str(uuid.uuid4()), "name": name, "size": size, "status": "available", "attachments": [],
               "project_id": project_id, "os-vol-tenant-attr:tenant_id": project_id, "path": path,
               "bootable": "false"}
        if node is not None:   # the site's node whose disk holds it (storage's os-vol-host-attr:host)
            vol[VOLUME_HOST] = f"{node}@file#file"
        self.volumes[vol["id"]] = vol
        return vol

    def get_volume(self, project_id, volume_id, token=None):
        # as the storage service: the token's project decides (admin and service see all), not the URL's
        caller = self.auth.who(token)
        vol = self.volumes.get(volume_id)
        if vol is None or not (self.auth.privileged(caller) or vol["project_id"] == caller["project_id"]):
            raise ExternalError(f"Volume {volume_id} could not be found.", 404, "volume")
        if VOLUME_HOST in vol and not self.auth.privileged(caller):
            return {k: v for k, v in vol.items() if k != VOLUME_HOST}   # admins and services only, as Cinder
        return vol

    def create_attachment(self, project_id, volume_id, instance_id, connector, token=None):
        vol = self.get_volume(project_id, volume_id, token)
        if vol["status"] != "available":
            raise ExternalError(f"Invalid volume: volume {volume_id} status must be available, "
                                f"but is {vol['status']}.", 400, "volume")
        att_id = str(uuid.uuid4())
        info = self._iscsi(vol, att_id) if (connector or {}).get("initiator") else \
            {"driver_volume_type": "file", "data": {"path": vol["path"], "format": "raw"}}
        att = {"id": att_id, "volume_id": volume_id, "instance": instance_id, "status": "reserved",
               "connector": connector, "connection_info": info}
        if self._node(vol):
            info["data"]["node"] = self._node(vol)
        self.attachments[att["id"]] = att
        vol["status"] = "reserved"
        self.auth.record("volume", "create_attachment", volume_id, self.auth.who(token))
        return att

    def _iscsi(self, vol, att_id) -> dict:
        """As storage's target: a 409 when the volume's node cannot export (no target there)."""
        node = self._node(vol)
        if self.export_refusal or self.protocols.get(node) != "iSCSI":
            raise ExternalError(self.export_refusal or f"Volume {vol['id']} cannot be exported: node {node} has no "
                                "iSCSI target.", 409, "volume")
        return {"driver_volume_type": "iscsi", "data": {
            "target_portal": f"{node}:3260", "target_iqn": ISCSI_TARGET_PREFIX + att_id, "target_lun": 1,
            "auth_method": "CHAP", "auth_username": f"egret-{att_id[:8]}", "auth_password": uuid.uuid4().hex,
            "format": "qcow2", "access_mode": "rw", "volume_id": vol["id"]},
            "attachment_id": att_id, "serial": vol["id"]}

    def _attachment(self, attachment_id, token):
        att = self.attachments.get(attachment_id)
        if att is None:
            raise ExternalError(f"Attachment {attachment_id} could not be found.", 404, "volume")
        self.get_volume(None, att["volume_id"], token)
        return att

    def complete_attachment(self, project_id, attachment_id, token=None):
        att = self._attachment(attachment_id, token)
        att["status"] = "attached"
        self.volumes[att["volume_id"]]["status"] = "in-use"

    def delete_attachment(self, project_id, attachment_id, token=None):
        if attachment_id not in self.attachments:
            return
        att = self._attachment(attachment_id, token)
        self.attachments.pop(attachment_id)
        self.volumes[att["volume_id"]]["status"] = "available"
        self.auth.record("volume", "delete_attachment", att["volume_id"], self.auth.who(token))

    def delete_volume(self, project_id, volume_id, token=None):
        if volume_id in self.volumes:
            self.get_volume(project_id, volume_id, token)
            self.volumes.pop(volume_id)


def fake_clients() -> dict:
    """The three fakes sharing one FakeAuth (reachable as clients["network"].auth)."""
    auth = FakeAuth()
    return {"network": FakeNetwork(auth), "image": FakeImage(auth), "volume": FakeVolume(auth)}
