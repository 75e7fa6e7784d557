"""A tiny service on the shared factory, for supervisor and middleware tests (never in the manifest)."""
import os
import subprocess

from flask import jsonify

from appliance import config, routes
from appliance.app import make_app

SCHEMA = {"type": "object", "required": ["thing"], "properties": {"thing": {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 8}, "size": {"type": "integer"}}}}}


def root(call):
    return jsonify(pid=os.getpid())


def things(call):
    return jsonify(user=call.context.user_id, project=call.args["project_id"])


def create(call):
    return jsonify(call.body), 201


def crash(call):
    # lets supervisor tests kill a worker the way a real bug would
    os._exit(3)


def helper(call):
    # a daemon the unit starts and that ignores SIGTERM, as storage's tgtd does: stopping the unit must end it
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 1; done"], stdin=subprocess.DEVNULL)
    return jsonify(pid=proc.pid)


# the target of each rule is the project in the path (the declared routes' default target)
TABLE = routes.RouteTable("sample", [
    routes.Route("GET", "/", routes.PUBLIC, root),
    routes.Route("GET", "/v1/<project_id>/things", "sample:read", things),
    routes.Route("POST", "/v1/<project_id>/things", "sample:write", create, schema=SCHEMA),
    routes.Route("POST", "/crash", routes.PUBLIC, crash),
    routes.Route("POST", "/helper", routes.PUBLIC, helper),
])


def create_app(settings=None):
    settings = settings or config.load()
    app = make_app("sample", settings, error_format="nova",
                   policies={"sample:read": "rule:project_reader_or_admin",
                             "sample:write": "rule:project_member_or_admin"})
    routes.register(app, TABLE)
    return app
