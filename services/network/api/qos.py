"""/v2.0/qos/policies, their bandwidth_limit_rules, and /v2.0/qos/rule-types."""
from flask import Blueprint, jsonify

from appliance import policy
from appliance.app import json_body
from services.network import render, schemas
from services.network.api.common import crud, ctx, list_response, manager, show_response, write_ctx



def operator(c):
    """QoS policies and rules are the operator's, as in Neutron (members attach shared ones to their ports)."""
    policy.enforce("network:qos:manage", {"project_id": c.project_id})
    return c


policies = crud("qos_policies", "policies", "policy", url="/v2.0/qos/policies",
                list_fn=lambda c: manager().list_qos_policies(c),
                show_fn=lambda c, i: render.qos_policy(manager().get_qos_policy(c, i)),
                create_fn=lambda c, b: manager().create_qos_policy(operator(c), b),
                update_fn=lambda c, i, b: manager().update_qos_policy(operator(c), i, b),
                delete_fn=lambda c, i: manager().delete_qos_policy(operator(c), i),
                create_schema=schemas.QOS_POLICY_CREATE, update_schema=schemas.QOS_POLICY_UPDATE)
bp = Blueprint("qos", __name__)
bp.register_blueprint(policies)
_RULES = "/v2.0/qos/policies/<pid>/bandwidth_limit_rules"


@bp.get("/v2.0/qos/rule-types")
def rule_types():
    return jsonify({"rule_types": [{"type": "bandwidth_limit"}]})


@bp.get(_RULES)
def list_rules(pid):
    return list_response("bandwidth_limit_rules", render.qos_policy(manager().get_qos_policy(ctx(), pid))["rules"])


@bp.post(_RULES)
def create_rule(pid):
    body = json_body(schemas.QOS_BW_CREATE)
    return jsonify({"bandwidth_limit_rule": manager().create_bw_rule(operator(write_ctx()), pid,
                                                                     body["bandwidth_limit_rule"])}), 201


@bp.get(_RULES + "/<rid>")
def show_rule(pid, rid):
    return show_response("bandwidth_limit_rule", render.qos_rule(manager().get_bw_rule(ctx(), pid, rid)))


@bp.put(_RULES + "/<rid>")
def update_rule(pid, rid):
    body = json_body(schemas.QOS_BW_UPDATE)
    return jsonify({"bandwidth_limit_rule": manager().update_bw_rule(operator(write_ctx()), pid, rid,
                                                                     body["bandwidth_limit_rule"])})


@bp.delete(_RULES + "/<rid>")
def delete_rule(pid, rid):
    manager().delete_bw_rule(operator(write_ctx()), pid, rid)
    return "", 204
