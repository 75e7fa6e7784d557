"""The metadata service (port 'metadata'): OpenStack and EC2 trees for guests, behind the network's proxy.

Requests come from the network service's per-network proxy with Neutron metadata-agent headers:
X-Instance-ID, X-Instance-ID-Signature (hex HMAC-SHA256 of the instance id with the shared secret in
<state_dir>/secrets/metadata-proxy-secret), X-Tenant-ID and X-Forwarded-For.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets as pysecrets

from flask import Response, request

from appliance import routes
from appliance.app import make_app
from appliance.errors import BadRequest, Forbidden, NotFound
from appliance.routes import PUBLIC, RouteTable
from services.compute import models
from services.compute.models import Instance

OPENSTACK_VERSIONS = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06",
                      "2017-02-22", "2018-08-27", "2020-10-14", "latest"]
EC2_VERSIONS = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
                "2008-09-01", "2009-04-04", "latest"]


# the only trees a guest may ask for; everything else the shared app factory adds (/metrics, /healthz) stays
# off this port, so a guest behind the proxy never sees Prometheus output or service internals
METADATA_PATH = re.compile(r"^/(openstack(/[^/]*){0,2}/?|[^/]+/(user-data|meta-data(/.*)?))?$")


def is_metadata_path(path: str) -> bool:
    return bool(METADATA_PATH.match(path)) and not path.startswith(("/metrics", "/healthz"))


def secret_path(settings):
    return settings.state_dir / "secrets" / "metadata-proxy-secret"


def proxy_secret(settings) -> bytes:
    """The shared secret, created on first use by whichever service needs it first; 0640: on the box compute and
    network run as different users of group egret, and both must read it."""
    path = secret_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(pysecrets.token_hex(32))
    return path.read_text().strip().encode()


def sign(secret: bytes, instance_id: str) -> str:
    return hmac.new(secret, instance_id.encode(), hashlib.sha256).hexdigest()


def meta_data(inst) -> dict:
    keys = []
    if inst.key_name and inst.key_data:
        keys.append({"name": inst.key_name, "type": "ssh", "data": inst.key_data})
    return {"uuid": inst.id, "meta": dict(inst.metadata or {}), "hostname": inst.hostname, "name": inst.name,
            "launch_index": inst.launch_index, "availability_zone": inst.availability_zone,
            "project_id": inst.project_id, "public_keys": {k["name"]: k["data"] for k in keys}, "keys": keys,
            "devices": [], "dedicated_cpus": [],
            "random_seed": base64.b64encode(os.urandom(512)).decode()}


def network_data(inst) -> dict:
    links, networks = [], []
    for i, p in enumerate(inst.ports or []):
        links.append({"id": p.get("tap"), "vif_id": p["port_id"], "type": p.get("vif_type", "bridge"),
                      "ethernet_mac_address": p.get("mac"), "mtu": p.get("mtu")})
        networks.append({"id": f"network{i}", "type": "ipv4_dhcp", "link": p.get("tap"),
                         "network_id": p["network_id"]})
    return {"links": links, "networks": networks, "services": []}


def user_data(inst) -> bytes | None:
    if not inst.user_data:
        return None
    return base64.b64decode(inst.user_data)


def ec2_meta(inst) -> dict:
    ips = [ip for p in inst.ports or [] for ip in p.get("ips", [])]
    data = {"ami-id": inst.image_ref or "", "ami-launch-index": str(inst.launch_index),
            "hostname": inst.hostname, "local-hostname": inst.hostname, "public-hostname": inst.hostname,
            "instance-id": inst.id, "instance-type": (inst.flavor or {}).get("name", ""),
            "local-ipv4": ips[0] if ips else "", "public-ipv4": "", "reservation-id": inst.reservation_id,
            "security-groups": "\n".join(inst.security_groups or []),
            "placement": {"availability-zone": inst.availability_zone}}
    if inst.key_name and inst.key_data:
        data["public-keys"] = {f"0={inst.key_name}": {"openssh-key": inst.key_data}}
    return data


def guest_loader(secret: bytes):
    """Route.load for every metadata path: the instance the proxy's signed headers name."""
    def instance(call) -> Instance:
        iid = request.headers.get("X-Instance-ID")
        if not iid:
            raise BadRequest("X-Instance-ID header is missing from request.")
        given = request.headers.get("X-Instance-ID-Signature", "")
        if not hmac.compare_digest(given, sign(secret, iid)):
            raise Forbidden("Invalid proxy request signature.")
        inst = Instance.get_or_none((Instance.id == iid) & (Instance.deleted == False))  # noqa: E712
        if inst is None:
            raise NotFound("Instance not found.")
        tenant = request.headers.get("X-Tenant-ID")
        if tenant and tenant != inst.project_id:
            raise Forbidden("X-Tenant-ID does not match the instance's project.")
        return inst
    return instance


def _text(body: str | bytes, mimetype="text/plain"):
    return Response(body, mimetype=mimetype)


def _not_found():
    return NotFound("The resource could not be found.")


def root(call):
    return _text("\n".join(EC2_VERSIONS + ["openstack"]))


def os_versions(call):
    return _text("\n".join(OPENSTACK_VERSIONS))


def os_index(call):
    if call.args["version"] not in OPENSTACK_VERSIONS:
        raise _not_found()
    return _text("meta_data.json\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json\nuser_data")


def os_file(call):
    inst, name = call.resource, call.args["name"]
    if call.args["version"] not in OPENSTACK_VERSIONS:
        raise _not_found()
    if name == "meta_data.json":
        return _text(json.dumps(meta_data(inst)), "application/json")
    if name == "network_data.json":
        return _text(json.dumps(network_data(inst)), "application/json")
    if name in ("vendor_data.json", "vendor_data2.json"):
        return _text(json.dumps({}), "application/json")
    if name == "password":
        return _text("")
    if name == "user_data":
        data = user_data(inst)
        if data is None:
            raise _not_found()
        return _text(data, "application/octet-stream")
    raise _not_found()


def ec2_user_data(call):
    data = user_data(call.resource)
    if call.args["version"] not in EC2_VERSIONS or data is None:
        raise _not_found()
    return _text(data, "application/octet-stream")


def ec2_meta_data(call):
    if call.args["version"] not in EC2_VERSIONS:
        raise _not_found()
    path = call.args.get("path", "")
    node = ec2_meta(call.resource)
    for part in [p for p in path.split("/") if p]:
        if isinstance(node, dict):
            match = next((k for k in node if k == part or k.split("=")[0] == part), None)
            if match is None:
                raise _not_found()
            node = node[match]
        else:
            raise _not_found()
    if isinstance(node, dict):
        names = [k + ("/" if isinstance(v, dict) else "") for k, v in node.items()]
        if path.startswith("public-keys") and path.strip("/") == "public-keys":
            names = [k for k in node]
        return _text("\n".join(names))
    return _text(str(node))


def metadata_table(secret: bytes) -> RouteTable:
    """The guests' trees. PUBLIC: guests have no Keystone token; the network's proxy vouches for the instance
    with an HMAC of its id (checked by the loader on every path), so access is decided there, not by policy."""
    load = guest_loader(secret)
    table = RouteTable("compute_metadata")
    for path, handler in (("/", root), ("/openstack", os_versions), ("/openstack/", os_versions),
                          ("/openstack/<version>", os_index), ("/openstack/<version>/", os_index),
                          ("/openstack/<version>/<name>", os_file), ("/<version>/user-data", ec2_user_data),
                          ("/<version>/meta-data", ec2_meta_data), ("/<version>/meta-data/", ec2_meta_data),
                          ("/<version>/meta-data/<path:path>", ec2_meta_data)):
        table.add("GET", path, PUBLIC, handler, load=load)
    return table


def build_metadata_app(settings, manager):
    app = make_app("compute-metadata", settings, error_format="nova", database=models.database)
    app.extensions["egret.manager"] = manager

    def only_metadata():
        if not is_metadata_path(request.path):
            raise NotFound("The resource could not be found.")
    # first of all hooks: not even the metrics middleware sees a request for a path outside the metadata trees
    app.before_request_funcs.setdefault(None, []).insert(0, only_metadata)
    routes.register(app, metadata_table(proxy_secret(settings)))
    return app
