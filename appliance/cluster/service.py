"""The cluster unit: HTTPS API for joins and heartbeats, and the loop that reports this box's health to its site."""
from __future__ import annotations

import logging
import threading
import time

from flask import current_app, jsonify, request

from appliance import config, errors, federation_site, pki, routes
from appliance.app import make_app
from appliance.cluster import membership, models, versions
from appliance.cluster import hosting
from appliance.db import migrate_service, open_service_database
from appliance.unitstatus import status

log = logging.getLogger("egret.cluster")
PACKAGE = "appliance.cluster.migrations"
POLICIES = {"cluster:issue_token": "rule:admin_required", "cluster:list_nodes": "rule:admin_required",
            "cluster:remove_node": "rule:admin_required"}
NAME = {"type": "string", "pattern": r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"}
JOIN_SCHEMA = {"type": "object", "required": ["secret", "name", "address", "csr"], "additionalProperties": False,
               "properties": {"secret": {"type": "string", "minLength": 22, "maxLength": 256}, "name": NAME,
                              "address": {"type": "string", "maxLength": 255, "minLength": 1},
                              "csr": {"type": "string", "maxLength": 8192},
                              "version": {"type": "string", "maxLength": 32}}}
ABORT_SCHEMA = {"type": "object", "required": ["secret", "name"], "additionalProperties": False,
                "properties": {"secret": JOIN_SCHEMA["properties"]["secret"], "name": NAME}}
HEARTBEAT_SCHEMA = {"type": "object", "additionalProperties": False,
                    "properties": {"address": {"type": "string", "maxLength": 255},
                                   "health": {"type": "object", "additionalProperties": {"type": "boolean"}},
                                   "version": {"type": "string", "maxLength": 32}}}
TOKEN_SCHEMA = {"type": "object", "additionalProperties": False,
                "properties": {"ttl": {"type": "integer", "minimum": 60, "maximum": 7 * 86400}}}


def _settings():
    return current_app.extensions["egret.settings"]


def _no_target(call) -> dict:
    # the site is the box's, not a project's: the rules are about the caller alone
    return {}


def show(call):
    s = _settings()
    info = membership.site(s)
    return jsonify(cluster={"role": membership.role(s), "site": info and info["site"], "node": membership.node_name(s),
                            "ca_fingerprint": pki.fingerprint(membership.site_ca_pem(s)),
                            "seeds": info["seeds"] if info else membership.advertised(s)})


def ca(call):
    return jsonify(ca_certificate=membership.site_ca_pem(_settings()))


def join(call):
    body = call.body
    return jsonify(membership.redeem(_settings(), body["secret"], body["name"], body["address"], body["csr"],
                                     body.get("version"))), 201


def abort_join(call):
    membership.abort_join(_settings(), call.body["secret"], call.body["name"])
    return "", 204


def heartbeat(call):
    # authenticated by the node's certificate (checked before the body is read), not a Keystone token
    name = pki.peer_name(request.environ)
    if not name:
        raise errors.Unauthorized("A node certificate issued by this site's CA is required.")
    body = call.body
    return jsonify(membership.heartbeat(_settings(), name, body.get("address"), body.get("health", {}),
                                        body.get("version")))


def issue_token(call):
    body = call.body
    return jsonify(membership.issue_token(_settings(), body.get("ttl", membership.DEFAULT_TTL))), 201


def nodes(call):
    return jsonify(nodes=membership.known_members(_settings()))


def remove_node(call):
    # a node that still hosts servers (or that compute cannot say about) stays: 409 / 503
    hosting.check_removable(_settings(), call.args["name"], call.context.token)
    membership.remove(_settings(), call.args["name"])
    return "", 204


TABLE = routes.RouteTable("cluster", [
    routes.Route("GET", "/v1/cluster", routes.PUBLIC, show),
    routes.Route("GET", "/v1/cluster/ca", routes.PUBLIC, ca),
    routes.Route("POST", "/v1/cluster/join", routes.PUBLIC, join, schema=JOIN_SCHEMA),
    routes.Route("POST", "/v1/cluster/join/abort", routes.PUBLIC, abort_join, schema=ABORT_SCHEMA),
    routes.Route("POST", "/v1/cluster/heartbeat", routes.PUBLIC, heartbeat, schema=HEARTBEAT_SCHEMA),
    routes.Route("POST", "/v1/cluster/join-tokens", "cluster:issue_token", issue_token, schema=TOKEN_SCHEMA,
                 body_required=False, target=_no_target),
    routes.Route("GET", "/v1/cluster/nodes", "cluster:list_nodes", nodes, target=_no_target),
    routes.Route("DELETE", "/v1/cluster/nodes/<name>", "cluster:remove_node", remove_node, target=_no_target),
])


# --- the background loop -------------------------------------------------------------------------------------
def local_health(settings) -> dict:
    """Which of this box's units answer /healthz (the cluster unit itself and the wizard excepted)."""
    return {r["unit"]: r["healthy"] for r in status(settings) if r["unit"] not in ("cluster", "firstboot")}


def beat_once(settings, health: dict) -> None:
    """Founder: record its own heartbeat. Member: send one to the first seed that answers, keep the member list."""
    info = membership.site(settings)
    if not info:
        return
    if info["role"] == "founder":
        with models.database.connection_context():
            membership.record_own_heartbeat(settings, health)
            membership.write_json(membership.members_file(settings), membership.members(settings))
        return
    member_dir = membership.state_dir(settings) / "member"
    ca_pem = (member_dir / "ca.crt").read_text()
    for seed in info["seeds"]:
        try:
            answer = pki.request("POST", f"https://{seed}/v1/cluster/heartbeat", ca_pem=ca_pem,
                                 cert=membership.node_certificate(settings),
                                 body={"address": membership.advertised(settings)[0], "health": health,
                                       "version": versions.current()})
        except pki.PeerError as exc:
            log.warning("heartbeat to %s failed: %s", seed, exc)
            continue
        membership.write_json(membership.members_file(settings), answer["members"])
        return


def dial_home(settings, health: dict, schedule: dict) -> None:
    """An enrolled box reports to its federation hub when the hub's last answer said to; a hub that cannot be
    reached is retried next round while the box keeps working."""
    if federation_site.enrolment(settings) is None or time.time() < schedule.get("next", 0.0):
        return
    info = membership.site(settings) or {}
    inventory = {"node": membership.node_name(settings), "site_cluster": info.get("site"),
                 "cluster_role": membership.role(settings), "units": sorted(health)}
    try:
        answer = federation_site.report(settings, health, inventory)
    except pki.PeerError as exc:
        log.warning("report to the federation hub failed: %s", exc)
        return
    schedule["next"] = time.time() + float(answer.get("next_report_in", 60))


def _loop(settings, stop: threading.Event) -> None:
    schedule: dict = {}
    while not stop.wait(membership.interval(settings)):
        try:
            health = local_health(settings)
            beat_once(settings, health)
            dial_home(settings, health, schedule)
        except Exception:  # the loop must outlive one bad round (a peer down, a disk hiccup)
            log.exception("cluster heartbeat round failed")


def migrate(settings) -> list[str]:
    return migrate_service(settings, "cluster", models.database, package=PACKAGE)


def prepare(settings) -> None:
    """Before gunicorn starts: it refuses to bind without the certificate files (it rereads them per connection)."""
    membership.state_dir(settings).mkdir(parents=True, exist_ok=True)
    membership.prepare_tls(settings)


def create_app(settings=None, *, driver=None, background: bool = True):
    settings = settings or config.load()
    prepare(settings)
    open_service_database(settings, "cluster", models.database, package=PACKAGE)
    app = make_app("cluster", settings, error_format="keystone", policies=POLICIES, database=models.database)
    routes.register(app, TABLE)
    if background:
        stop = threading.Event()
        threading.Thread(target=_loop, args=(settings, stop), daemon=True, name="cluster-heartbeat").start()
        app.extensions["egret.cluster_stop"] = stop
    return app
