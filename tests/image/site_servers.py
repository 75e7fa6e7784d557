"""Run inside a founder box (its /opt/egret python): two servers of an ordinary project through the site's API.

The admin sets up (a project and its member, the tiny guest's images, a flavor); the member creates a network, a
server group and two servers in it, then reads both consoles through the API (a member's server's console comes
from its node's agent), and attaches a volume to the server on the node that does not hold it (iSCSI). Prints one
line per step for the host test to read: `site-servers <step> <json>`.
Usage: python site_servers.py GUEST_DIR POLICY [CLOUDS_YAML] (anti-affinity on a two-node site: one per node).
"""
from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path

import requests
import yaml

def say(step: str, value) -> None:
    print(f"site-servers {step} {json.dumps(value, separators=(',', ':'))}", flush=True)


class Session:
    """A scoped token and the catalog's public endpoints, over the box CA."""

    def __init__(self, auth_url: str, cacert: str, user: str, password: str, project: str):
        self.http = requests.Session()
        self.http.verify = cacert
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        r = self.http.post(f"{auth_url.rstrip('/')}/auth/tokens", json=body, timeout=60)
        r.raise_for_status()
        self.http.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
        self.http.headers["OpenStack-API-Version"] = "compute 2.64"
        self.url = {s["type"]: next(e["url"] for e in s["endpoints"] if e["interface"] == "public")
                    for s in r.json()["token"]["catalog"]}

    def call(self, method: str, service: str, path: str, **kw):
        r = self.http.request(method, self.url[service].rstrip("/") + path, timeout=120, **kw)
        if r.status_code >= 400:
            raise SystemExit(f"site-servers failed {method} {service}{path}: {r.status_code} {r.text[:400]}")
        return r.json() if r.content else None


def setup(admin: Session, guest: Path) -> tuple[str, str]:
    """A project with a member (returned: project, password), the tiny guest's three images, flavor tiny.nano."""
    project = admin.call("POST", "identity", "/projects", json={"project": {"name": "proj-site"}})["project"]
    password = secrets.token_urlsafe(16)
    user = admin.call("POST", "identity", "/users", json={"user": {
        "name": "site-member", "password": password, "default_project_id": project["id"]}})["user"]
    role = next(r for r in admin.call("GET", "identity", "/roles")["roles"] if r["name"] == "member")
    admin.call("PUT", "identity", f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    ids = {}
    for name, fmt, path, props in (("kernel", "aki", "vmlinuz", {}), ("ramdisk", "ari", "initrd.gz", {}),
                                   ("disk", "qcow2", "disk.qcow2", None)):
        if props is None:
            props = {"kernel_id": ids["kernel"], "ramdisk_id": ids["ramdisk"],
                     "os_command_line": (guest / "cmdline").read_text().strip()}
        body = {"name": f"egret-tiny-{name}", "disk_format": fmt, "container_format": "bare" if fmt == "qcow2"
                else fmt, "visibility": "public", **props}
        image = admin.call("POST", "image", "/v2/images", json=body)
        admin.call("PUT", "image", f"/v2/images/{image['id']}/file", data=(guest / path).read_bytes(),
                   headers={"Content-Type": "application/octet-stream"})
        ids[name] = image["id"]
    admin.call("POST", "compute", "/flavors", json={"flavor": {"name": "tiny.nano", "ram": 128, "vcpus": 1,
                                                               "disk": 1}})
    say("setup", {"project": project["id"], "image": ids["disk"]})
    return ids["disk"], password


def wait_nodes(admin: Session, count: int, timeout: float = 900) -> list:
    """The site's compute nodes once `count` of them are up (a member registers with its first heartbeats)."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = admin.call("GET", "compute", "/os-hypervisors/detail")["hypervisors"]
        up = [n["hypervisor_hostname"] for n in nodes if n.get("state") == "up"]
        if len(up) >= count or time.monotonic() > deadline:
            return up
        time.sleep(5)


def wait_active(member: Session, server_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        server = member.call("GET", "compute", f"/servers/{server_id}")["server"]
        if server["status"] in ("ACTIVE", "ERROR") or time.monotonic() > deadline:
            return server
        time.sleep(3)


def wait_volume(session: Session, volume_id: str, status: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while True:
        now = session.call("GET", "block-storage", f"/volumes/{volume_id}")["volume"]["status"]
        if now in (status, "error") or time.monotonic() > deadline:
            return now
        time.sleep(2)


def volume_across_nodes(admin: Session, member: Session, servers: dict) -> None:
    """The member's volume (a file on the storage box's disk) attached to its server on the other node: over iSCSI
    (the storage box's tgtd, the other node's QEMU logging in with CHAP), then detached."""
    vol = member.call("POST", "block-storage", "/volumes", json={"volume": {"size": 1, "name": "vol-site"}})["volume"]
    created = wait_volume(member, vol["id"], "available")
    node = admin.call("GET", "block-storage", f"/volumes/{vol['id']}")["volume"].get("os-vol-host-attr:host", "")
    hosts = {sid: admin.call("GET", "compute", f"/servers/{sid}")["server"].get("OS-EXT-SRV-ATTR:host")
             for sid in servers.values()}
    server = next((sid for sid, host in hosts.items() if host != node.split("@")[0]), None)
    if server is None or created != "available":
        raise SystemExit(f"site-servers failed volume {created} on {node}, servers on {hosts}")
    started = time.monotonic()
    member.call("POST", "compute", f"/servers/{server}/os-volume_attachments",
                json={"volumeAttachment": {"volumeId": vol["id"]}})
    attached = wait_volume(member, vol["id"], "in-use")
    seconds = round(time.monotonic() - started, 1)
    rows = admin.call("GET", "block-storage", f"/attachments/detail?volume_id={vol['id']}&all_tenants=1",
                      headers={"OpenStack-API-Version": "volume 3.27"})
    kinds = [(a.get("connection_info") or {}).get("driver_volume_type") for a in rows["attachments"]]
    member.call("DELETE", "compute", f"/servers/{server}/os-volume_attachments/{vol['id']}")
    detached = wait_volume(member, vol["id"], "available")
    say("volume", {"node": node, "server_host": hosts[server], "kinds": kinds, "attached": attached,
                   "seconds": seconds, "detached": detached})


def main(guest_dir: str, policy: str, clouds: str = "/var/lib/egret/clouds.yaml") -> None:
    doc = yaml.safe_load(Path(clouds).read_text())["clouds"]["egret"]
    auth = doc["auth"]
    admin = Session(auth["auth_url"], doc.get("cacert", True), auth["username"], auth["password"], auth["project_name"])
    say("nodes", wait_nodes(admin, 2 if policy == "anti-affinity" else 1))
    image, password = setup(admin, Path(guest_dir))
    member = Session(auth["auth_url"], doc.get("cacert", True), "site-member", password, "proj-site")
    net = member.call("POST", "network", "/v2.0/networks", json={"network": {"name": "net-site"}})["network"]
    member.call("POST", "network", "/v2.0/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.71.0.0/24", "ip_version": 4, "name": "sub-site"}})
    say("network", {"network": net["id"], "mtu": net.get("mtu")})
    sg = member.call("POST", "compute", "/os-server-groups", json={"server_group": {
        "name": "spread", "policy": policy}})["server_group"]
    flavor = next(f["id"] for f in member.call("GET", "compute", "/flavors")["flavors"] if f["name"] == "tiny.nano")
    servers = {}
    for key in ("a", "b"):
        started = time.monotonic()
        created = member.call("POST", "compute", "/servers", json={
            "server": {"name": f"vm-{key}", "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net["id"]}]},
            "os:scheduler_hints": {"group": sg["id"]}})["server"]
        server = wait_active(member, created["id"])
        seen = admin.call("GET", "compute", f"/servers/{created['id']}")["server"]  # host and fault details
        ports = admin.call("GET", "network", f"/v2.0/ports?device_id={created['id']}")["ports"]
        say("server", {"key": key, "id": created["id"], "status": server["status"],
                       "host": seen.get("OS-EXT-SRV-ATTR:host"), "seconds": round(time.monotonic() - started, 1),
                       "port_hosts": [p.get("binding:host_id") for p in ports], "fault": seen.get("fault", {})})
        servers[key] = created["id"]
        if server["status"] != "ACTIVE":
            return
    for key, server_id in servers.items():
        output = member.call("POST", "compute", f"/servers/{server_id}/action", json={"os-getConsoleOutput": {}})
        say("console", {"key": key, "chars": len(output["output"])})
    if policy == "anti-affinity":
        volume_across_nodes(admin, member, servers)


if __name__ == "__main__":
    main(*sys.argv[1:])
