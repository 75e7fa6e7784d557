"""`egret cluster drain NODE`: disable a node's compute service and cold-migrate every server off it."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import yaml

MICROVERSION = "2.56"     # os-services by id (2.53) and migrate to a named host (2.56)
SETTLED = ("ACTIVE", "SHUTOFF", "VERIFY_RESIZE", "ERROR")


class DrainError(Exception):
    """The drain could not start (no such node, no credentials, compute unreachable)."""


class ComputeApi:
    """The compute API as the admin of clouds.yaml reaches it: a token from identity, compute from its catalog."""

    def __init__(self, settings, timeout: float = 30.0):
        import requests   # here: every `egret` call builds the parser, few of them drain a node
        path = Path(settings.state_dir) / "clouds.yaml"
        try:
            cloud = yaml.safe_load(path.read_text())["clouds"]["egret"]
            auth = cloud["auth"]
            # a member's clouds.yaml names the site's API without its password (the founder's admin): the
            # operator gives it as the openstack client takes it
            password = auth.get("password") or os.environ.get("OS_PASSWORD")
            complete = all(auth.get(k) for k in ("auth_url", "username", "project_name"))
        except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError):
            complete = False
        if not complete:
            raise DrainError(f"no admin credentials in {path} (egret bootstrap writes them)")
        if not password:
            raise DrainError(f"{path} names {auth['auth_url']} without the admin's password (a site member's "
                             "does: the site's admin is the founder's); give it as OS_PASSWORD")
        self.http, self.timeout = requests.Session(), timeout
        self.verify = cloud.get("cacert") or True
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": auth.get("user_domain_name", "Default")},
            "password": password}}}, "scope": {"project": {"name": auth["project_name"], "domain": {
                "name": auth.get("project_domain_name", "Default")}}}}}
        try:
            resp = self.http.post(auth["auth_url"].rstrip("/") + "/auth/tokens", json=body, timeout=timeout,
                                  verify=self.verify)
        except requests.RequestException as exc:
            raise DrainError(f"identity at {auth['auth_url']} cannot be reached: {exc}") from None
        if resp.status_code != 201:
            raise DrainError(f"identity refused the admin of {path}: HTTP {resp.status_code}")
        self.token = resp.headers["X-Subject-Token"]
        catalog = resp.json()["token"].get("catalog") or []
        urls = [e["url"] for s in catalog if s.get("type") == "compute" for e in s.get("endpoints", [])
                if e.get("interface") == "public"]
        if not urls:
            raise DrainError("the catalog has no compute endpoint")
        self.base = urls[0].rstrip("/")
        self._errors = requests.RequestException

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        """(status, JSON body or {}) of one compute call; `path` after /v2.1."""
        base = self.base if self.base.endswith("/v2.1") else self.base + "/v2.1"
        try:
            resp = self.http.request(method, base + path, json=body, timeout=self.timeout, verify=self.verify,
                                     headers={"X-Auth-Token": self.token,
                                              "OpenStack-API-Version": f"compute {MICROVERSION}"})
        except self._errors as exc:
            raise DrainError(f"compute cannot be reached: {exc}") from None
        try:
            return resp.status_code, resp.json() if resp.content else {}
        except ValueError:
            return resp.status_code, {}


def _message(body: dict) -> str:
    """The API's own error message (Nova's {"badRequest": {"message": ...}} form)."""
    for value in (body or {}).values():
        if isinstance(value, dict) and value.get("message"):
            return value["message"]
    return json.dumps(body)[:200]


def _wait(api, sid: str, timeout: float, poll: float) -> dict:
    """The server once its task is done and its status settled (or the last view of it at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = api.call("GET", f"/servers/{sid}")
        server = body.get("server") or {}
        if status != 200 or (server.get("status") in SETTLED and not server.get("OS-EXT-STS:task_state")):
            return server
        if time.monotonic() > deadline:
            return server
        time.sleep(poll)


def move_one(api, server: dict, node: str, timeout: float, poll: float) -> tuple[str | None, str | None]:
    """Cold-migrate one server off `node` and confirm: (its new host, None) or (None, why it did not move)."""
    sid = server["id"]
    status, body = api.call("POST", f"/servers/{sid}/action", {"migrate": None})
    if status != 202:
        return None, _message(body)
    after = _wait(api, sid, timeout, poll)
    if after.get("status") != "VERIFY_RESIZE":
        fault = (after.get("fault") or {}).get("message")
        return None, fault or f"the migration ended in {after.get('status') or 'an unknown state'}"
    status, body = api.call("POST", f"/servers/{sid}/action", {"confirmResize": None})
    if status not in (202, 204):
        return None, _message(body)
    after = _wait(api, sid, timeout, poll)
    host = after.get("OS-EXT-SRV-ATTR:host")
    if host == node or after.get("status") not in ("ACTIVE", "SHUTOFF"):
        return None, f"it is {after.get('status')} on {host} after the confirm"
    return host, None


def drain(api, node: str, progress=print, timeout: float = 900.0, poll: float = 1.0) -> dict:
    """Disable `node`'s compute service (reason "draining") and move each of its servers elsewhere; the report
    {"node", "moved": [{id, name, from, to}], "failed": [{id, name, reason}]}."""
    status, body = api.call("GET", f"/os-services?binary=nova-compute&host={node}")
    services = body.get("services") or []
    if status != 200 or not services:
        raise DrainError(f"no compute node {node!r}" if status == 200 else f"os-services: {_message(body)}")
    status, body = api.call("PUT", f"/os-services/{services[0]['id']}",
                            {"status": "disabled", "disabled_reason": "draining"})
    if status != 200:
        raise DrainError(f"could not disable {node}: {_message(body)}")
    status, body = api.call("GET", f"/servers/detail?all_tenants=1&host={node}")
    if status != 200:
        raise DrainError(f"could not list the servers on {node}: {_message(body)}")
    servers = body.get("servers") or []
    report = {"node": node, "moved": [], "failed": []}
    for n, server in enumerate(servers, start=1):
        label = f"[{n}/{len(servers)}] {server.get('name')} ({server['id']})"
        to, why = move_one(api, server, node, timeout, poll)
        if to:
            report["moved"].append({"id": server["id"], "name": server.get("name"), "from": node, "to": to})
            progress(f"{label}: moved to {to}")
        else:
            report["failed"].append({"id": server["id"], "name": server.get("name"), "reason": why})
            progress(f"{label}: NOT moved: {why}")
    return report


def cmd_drain(args, settings) -> int:
    if not args.name:
        print("egret cluster drain: name the node to drain (egret cluster drain NODE)", file=sys.stderr)
        return 2
    quiet = getattr(args, "json", False)
    try:
        report = drain(ComputeApi(settings), args.name, progress=(lambda line: None) if quiet else print)
    except DrainError as exc:
        print(f"egret cluster drain: {exc}", file=sys.stderr)
        return 1
    if quiet:
        print(json.dumps(report, indent=1))
    else:
        print(f"{args.name}: {len(report['moved'])} moved, {len(report['failed'])} could not move; the node stays "
              "disabled (PUT os-services status=enabled, or `openstack compute service set --enable`, to use it again)")
    return 1 if report["failed"] else 0


def add_to(cluster_parser) -> None:
    """`egret cluster drain NODE [--json]` on the cluster command's parser (its positional `name` is the node)."""
    action = next(a for a in cluster_parser._actions if a.dest == "action")
    action.choices = [*action.choices, "drain"]
    cluster_parser.add_argument("--json", action="store_true", help="drain: print the report as JSON")
    inner = cluster_parser.get_default("handler")

    def handler(args, settings):
        return cmd_drain(args, settings) if args.action == "drain" else inner(args, settings)
    cluster_parser.set_defaults(handler=handler)
