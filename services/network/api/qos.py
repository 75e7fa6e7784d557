"""/v2.0/qos/policies, their bandwidth_limit_rules, and /v2.0/qos/rule-types."""
from flask import jsonify

from appliance.routes import ANY_TOKEN, Route
from services.network import render, schemas
from services.network.api.access import CTX_CHECKS, QOS_MANAGE, READ, ctx, manager, read_target
from services.network.api.listing import list_body, show_body
from services.network.api.resources import VERBS, named, resource_routes

_RULES = "/v2.0/qos/policies/<pid>/bandwidth_limit_rules"
_RULE = "bandwidth_limit_rule"

# QoS policies and rules are the operator's, as in Neutron (members attach the ones they can see to their ports):
# QOS_MANAGE is checked before any lookup, so a member is refused (403) whether or not the policy exists
POLICY_ROUTES = resource_routes(
    "policies", "policy", url="/v2.0/qos/policies", of=lambda: manager().qos, names={v: v for v in VERBS},
    show=render.qos_policy, create_schema=schemas.QOS_POLICY_CREATE, update_schema=schemas.QOS_POLICY_UPDATE,
    write_rule=QOS_MANAGE, writes="after-rule")


def _rule_types(call):
    return jsonify({"rule_types": [{"type": "bandwidth_limit"}]})


def _list_rules(call):
    return render.qos_policy(call.resource)["rules"]


def _create_rule(call):
    return {_RULE: manager().qos.create_rule(ctx(call), call.args["pid"], call.body[_RULE])}


def _update_rule(call):
    return {_RULE: manager().qos.update_rule(ctx(call), call.args["pid"], call.args["rid"], call.body[_RULE])}


def _delete_rule(call):
    manager().qos.delete_rule(ctx(call), call.args["pid"], call.args["rid"])


_KW = {"checks": CTX_CHECKS}
ROUTES = POLICY_ROUTES + [
    Route("GET", "/v2.0/qos/rule-types", ANY_TOKEN, _rule_types),
    Route("GET", _RULES, READ, named("list_bandwidth_limit_rules", _list_rules),
          load=lambda call: manager().qos.get(ctx(call), call.args["pid"]), target=read_target,
          render=lambda docs: list_body("bandwidth_limit_rules", docs), **_KW),
    Route("POST", _RULES, QOS_MANAGE, named("create_bandwidth_limit_rule", _create_rule),
          schema=schemas.QOS_BW_CREATE, status=201, render=lambda doc: doc, **_KW),
    Route("GET", _RULES + "/<rid>", READ, named("show_bandwidth_limit_rule", lambda call: call.resource),
          load=lambda call: manager().qos.get_rule(ctx(call), call.args["pid"], call.args["rid"]),
          target=read_target, render=lambda r: show_body(_RULE, render.qos_rule(r)), **_KW),
    Route("PUT", _RULES + "/<rid>", QOS_MANAGE, named("update_bandwidth_limit_rule", _update_rule),
          schema=schemas.QOS_BW_UPDATE, render=lambda doc: doc, **_KW),
    Route("DELETE", _RULES + "/<rid>", QOS_MANAGE, named("delete_bandwidth_limit_rule", _delete_rule),
          status=204, render=lambda result: result, **_KW),
]
