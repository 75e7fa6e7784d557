"""In-memory network, image and volume clients with the HTTP clients' contract (unit tests, laptops)."""
from __future__ import annotations

import shutil
import uuid

from services.compute.external import ExternalError


def _mac() -> str:
    raw = uuid.uuid4().bytes
    return "fa:16:3e:%02x:%02x:%02x" % (raw[0], raw[1], raw[2])


class FakeNetwork:
    def __init__(self):
        self.networks: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floatingips: dict[str, dict] = {}
        self.security_groups: dict[str, dict] = {}
        self.add_security_group("default")
        self._next_ip = 10

    def add_security_group(self, name: str, project_id="p-test") -> dict:
        sg = {"id": str(uuid.uuid4()), "name": name, "project_id": project_id, "tenant_id": project_id}
        self.security_groups[sg["id"]] = sg
        return sg

    def list_security_groups(self, token=None, **filters):
        return [g for g in self.security_groups.values() if all(str(g.get(k)) == str(v) for k, v in filters.items())]

    def add_network(self, name="private", project_id="p-test", shared=False, external=False) -> dict:
        net = {"id": str(uuid.uuid4()), "name": name, "project_id": project_id, "tenant_id": project_id,
               "shared": shared, "router:external": external, "status": "ACTIVE", "subnets": [], "mtu": 1450}
        self.networks[net["id"]] = net
        return net

    def get_network(self, network_id, token=None):
        if network_id not in self.networks:
            raise ExternalError(f"Network {network_id} could not be found.", 404)
        return self.networks[network_id]

    def list_networks(self, token=None, **filters):
        return [n for n in self.networks.values() if all(str(n.get(k)) == str(v) for k, v in filters.items())]

    def get_port(self, port_id, token=None):
        if port_id not in self.ports:
            raise ExternalError(f"Port {port_id} could not be found.", 404)
        return self.ports[port_id]

    def create_port(self, body, token=None):
        net = self.get_network(body["network_id"])
        self._next_ip += 1
        port = {"id": str(uuid.uuid4()), "network_id": net["id"], "mac_address": _mac(),
                "fixed_ips": [{"subnet_id": "fake-subnet", "ip_address": f"10.0.0.{self._next_ip}"}],
                "device_id": "", "device_owner": "", "binding:host_id": "", "binding:vif_type": "unbound",
                "binding:vif_details": {}, "security_groups": [], "status": "DOWN",
                "project_id": body.get("project_id", net["project_id"])}
        port.update({k: v for k, v in body.items() if k != "network_id"})
        self.ports[port["id"]] = port
        return port

    def update_port(self, port_id, body, token=None):
        port = self.get_port(port_id)
        port.update(body)
        if body.get("binding:host_id"):
            port["binding:vif_type"] = "bridge"
            port["binding:vif_details"] = {"bridge_name": "brq" + port["network_id"][:11]}
            port["status"] = "ACTIVE"
        return port

    def delete_port(self, port_id, token=None):
        self.ports.pop(port_id, None)

    def list_ports(self, token=None, **filters):
        return [p for p in self.ports.values() if all(str(p.get(k)) == str(v) for k, v in filters.items())]

    def list_floatingips(self, token=None, **filters):
        return [f for f in self.floatingips.values() if all(str(f.get(k)) == str(v) for k, v in filters.items())]

    def list_subnets(self, token=None, **filters):
        return []


class FakeImage:
    def __init__(self):
        self.images: dict[str, dict] = {}
        self.files: dict[str, str] = {}
        self.uploaded: dict[str, str] = {}

    def add_image(self, path: str | None = None, name="cirros", **props) -> dict:
        image = {"id": str(uuid.uuid4()), "name": name, "status": "active", "disk_format": "qcow2",
                 "container_format": "bare", "min_disk": 0, "min_ram": 0, "size": 1, "visibility": "public",
                 **props}
        self.images[image["id"]] = image
        if path:
            self.files[image["id"]] = path
        return image

    def get_image(self, image_id, token=None):
        if image_id not in self.images:
            raise ExternalError(f"Image {image_id} could not be found.", 404)
        return self.images[image_id]

    def download(self, image_id, dest, token=None):
        self.get_image(image_id)
        src = self.files.get(image_id)
        if src:
            shutil.copy(src, dest)
        else:
            open(dest, "wb").close()

    def create_image(self, body, token=None):
        return self.add_image(name=body.get("name", ""), **{k: v for k, v in body.items() if k != "name"})

    def upload(self, image_id, path, token=None):
        self.uploaded[image_id] = path


class FakeVolume:
    def __init__(self):
        self.volumes: dict[str, dict] = {}
        self.attachments: dict[str, dict] = {}

    def add_volume(self, project_id="p-test", path="/dev/null", size=1, name="vol") -> dict:
        vol = {"id": str(uuid.uuid4()), "name": name, "size": size, "status": "available", "attachments": [],
               "project_id": project_id, "path": path, "bootable": "false"}
        self.volumes[vol["id"]] = vol
        return vol

    def get_volume(self, project_id, volume_id, token=None):
        vol = self.volumes.get(volume_id)
        if vol is None or vol["project_id"] != project_id:
            raise ExternalError(f"Volume {volume_id} could not be found.", 404)
        return vol

    def create_attachment(self, project_id, volume_id, instance_id, connector, token=None):
        vol = self.get_volume(project_id, volume_id)
        if vol["status"] != "available":
            raise ExternalError(f"Invalid volume: volume {volume_id} status must be available, "
                                f"but is {vol['status']}.", 400)
        att = {"id": str(uuid.uuid4()), "volume_id": volume_id, "instance": instance_id, "status": "reserved",
               "connection_info": {"driver_volume_type": "file",
                                   "data": {"path": vol["path"], "format": "raw"}}}
        self.attachments[att["id"]] = att
        vol["status"] = "reserved"
        return att

    def complete_attachment(self, project_id, attachment_id, token=None):
        att = self.attachments[attachment_id]
        att["status"] = "attached"
        self.volumes[att["volume_id"]]["status"] = "in-use"

    def delete_attachment(self, project_id, attachment_id, token=None):
        att = self.attachments.pop(attachment_id, None)
        if att:
            self.volumes[att["volume_id"]]["status"] = "available"

    def delete_volume(self, project_id, volume_id, token=None):
        self.volumes.pop(volume_id, None)


def fake_clients() -> dict:
    return {"network": FakeNetwork(), "image": FakeImage(), "volume": FakeVolume()}
