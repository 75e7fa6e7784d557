"""A tiny service on the shared factory, for supervisor and middleware tests (never in the manifest)."""
import os

from flask import jsonify

from appliance import config
from appliance.app import context, json_body, make_app, public
from appliance.policy import enforce

SCHEMA = {"type": "object", "required": ["thing"], "properties": {"thing": {
    "type": "object", "required": ["name"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 8}, "size": {"type": "integer"}}}}}


def create_app(settings=None):
    settings = settings or config.load()
    app = make_app("sample", settings, error_format="nova",
                   policies={"sample:read": "rule:project_reader_or_admin",
                             "sample:write": "rule:project_member_or_admin"})

    @app.get("/")
    @public
    def root():
        return jsonify(pid=os.getpid())

    @app.get("/v1/<project_id>/things")
    def things(project_id):
        enforce("sample:read", {"project_id": project_id})
        return jsonify(user=context().user_id, project=project_id)

    @app.post("/v1/<project_id>/things")
    def create(project_id):
        enforce("sample:write", {"project_id": project_id})
        return jsonify(json_body(SCHEMA)), 201

    @app.post("/crash")
    @public
    def crash():
        # lets supervisor tests kill a worker the way a real bug would
        os._exit(3)

    return app
