"""The two worlds of the service-clients contract: compute's fakes, and its HTTP clients on the real services.

The real world serves the network app and the storage image and volume apps (fake drivers) on local ports, and
gives compute's HTTP clients a service token minted with the roles identity's bootstrap gives compute's user."""
from __future__ import annotations

import threading

import requests
from werkzeug.serving import make_server

from appliance.testing.plugin import TokenMinter
from services.compute.external import http_clients
from services.compute.fakes import fake_clients
from services.network import create_app as network_app
from services.network.drivers.fake import FakeDriver as FakeNetworkDriver
from services.storage import create_apps as storage_apps
from services.storage.drivers.fake import FakeDriver as FakeVolumeDriver

A, B, ADMIN = "p-contract-a", "p-contract-b", "p-contract-admin"


class World:
    """Projects A and B with a member each, an admin, and compute's clients (token=None is compute's service)."""

    def __init__(self, settings):
        mint = TokenMinter(settings)
        self.tokens = {A: mint(user_id="u-a", project_id=A, roles=["member", "reader"]),
                       B: mint(user_id="u-b", project_id=B, roles=["member", "reader"]),
                       ADMIN: mint(user_id="u-admin", project_id=ADMIN, roles=["admin", "member", "reader"])}
        self.service_token = mint(user_id="u-compute", project_id="p-service", roles=["admin", "service"])
        self.clients: dict = {}

    @property
    def network(self):
        return self.clients["network"]

    @property
    def image(self):
        return self.clients["image"]

    @property
    def volume(self):
        return self.clients["volume"]


class FakeWorld(World):
    def __init__(self, settings):
        super().__init__(settings)
        self.clients = fake_clients()
        auth = self.clients["network"].auth
        auth.register(self.tokens[A], A, ["member", "reader"])
        auth.register(self.tokens[B], B, ["member", "reader"])
        auth.register(self.tokens[ADMIN], ADMIN, ["admin", "member", "reader"])

    def make_network(self, project, shared=False) -> str:
        return self.network.add_network(f"net-{project}", project, shared=shared)["id"]

    def make_security_group(self, project, name) -> str:
        return self.network.add_security_group(name, project)["id"]

    def make_image(self, project, path, visibility="private") -> str:
        return self.image.add_image(path=str(path), name="img", owner=project, visibility=visibility)["id"]

    def share_image(self, image_id, project) -> None:
        self.image.members.setdefault(image_id, set()).add(project)

    def make_volume(self, project) -> str:
        return self.volume.add_volume(project_id=project)["id"]

    def make_floating_ip(self, project, port) -> str:
        address = "203.0.113.7"
        fip = {"id": f"fip-{port['id']}", "port_id": port["id"], "project_id": project, "floating_ip_address": address,
               "fixed_ip_address": port["fixed_ips"][0]["ip_address"]}
        self.network.floatingips[fip["id"]] = fip
        return address

    def close(self) -> None:
        pass


class _Served:
    """A WSGI app on a local port, in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


class RealWorld(World):
    def __init__(self, settings, target=None):
        """`target`: the storage service's iSCSI target (default: the fake one, which exports)."""
        super().__init__(settings)
        settings.fake_drivers = True
        settings.service = {"network": {"vni_min": 100, "vni_max": 199}, "storage": {"synchronous": True}}
        net = network_app(settings, driver=FakeNetworkDriver(settings, prefix="egc"))
        storage = storage_apps(settings, driver=FakeVolumeDriver(), target=target)
        self.served = {"network": _Served(net), "image": _Served(storage["image"]),
                       "volume": _Served(storage["volume"])}
        settings.service["endpoints"] = {name: s.url for name, s in self.served.items()}
        self.clients = http_clients(settings)
        for client in self.clients.values():
            client.client.service_token = lambda: self.service_token   # identity's answer for compute's user
        self._subnet = 0

    def _call(self, target, method, path, token, **kw) -> dict:
        resp = requests.request(method, self.served[target].url + path, headers={"X-Auth-Token": token},
                                timeout=30, **kw)
        assert resp.status_code < 300, (method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else {}

    def make_network(self, project, shared=False) -> str:
        body = {"network": {"name": f"net-{project}", "project_id": project, "shared": shared}}
        net = self._call("network", "POST", "/v2.0/networks", self.tokens[ADMIN], json=body)["network"]
        self._subnet += 1
        self._call("network", "POST", "/v2.0/subnets", self.tokens[ADMIN], json={"subnet": {
            "network_id": net["id"], "project_id": project, "ip_version": 4, "cidr": f"10.9.{self._subnet}.0/24"}})
        return net["id"]

    def make_security_group(self, project, name) -> str:
        body = {"security_group": {"name": name}}
        return self._call("network", "POST", "/v2.0/security-groups", self.tokens[project],
                          json=body)["security_group"]["id"]

    def make_image(self, project, path, visibility="private") -> str:
        # a public image is an admin's to make, as in Glance
        token = self.tokens[ADMIN if visibility == "public" else project]
        image = self._call("image", "POST", "/v2/images", token, json={
            "name": "img", "disk_format": "qcow2", "container_format": "bare", "visibility": visibility})
        with open(path, "rb") as fh:
            requests.put(f"{self.served['image'].url}/v2/images/{image['id']}/file", data=fh, timeout=30,
                         headers={"X-Auth-Token": token, "Content-Type": "application/octet-stream"})
        return image["id"]

    def share_image(self, image_id, project) -> None:
        owner = self._call("image", "GET", f"/v2/images/{image_id}", self.tokens[ADMIN])["owner"]
        self._call("image", "POST", f"/v2/images/{image_id}/members", self.tokens[owner], json={"member": project})

    def make_volume(self, project) -> str:
        return self._call("volume", "POST", f"/v3/{project}/volumes", self.tokens[project],
                          json={"volume": {"size": 1, "name": "vol"}})["volume"]["id"]

    def make_floating_ip(self, project, port) -> str:
        """An external network with a subnet (admin), a router from the project's subnet to it, a floating IP."""
        admin = self.tokens[ADMIN]
        ext = self._call("network", "POST", "/v2.0/networks", admin, json={"network": {
            "name": "public", "router:external": True}})["network"]
        self._call("network", "POST", "/v2.0/subnets", admin, json={"subnet": {
            "network_id": ext["id"], "ip_version": 4, "cidr": "203.0.113.0/24", "enable_dhcp": False}})
        router = self._call("network", "POST", "/v2.0/routers", self.tokens[project], json={"router": {
            "name": "r", "external_gateway_info": {"network_id": ext["id"]}}})["router"]
        subnet = port["fixed_ips"][0]["subnet_id"]
        self._call("network", "PUT", f"/v2.0/routers/{router['id']}/add_router_interface", self.tokens[project],
                   json={"subnet_id": subnet})
        fip = self._call("network", "POST", "/v2.0/floatingips", self.tokens[project], json={"floatingip": {
            "floating_network_id": ext["id"], "port_id": port["id"]}})["floatingip"]
        return fip["floating_ip_address"]

    def close(self) -> None:
        for served in self.served.values():
            served.close()
