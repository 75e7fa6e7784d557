"""/v2.0/security-groups and /v2.0/security-group-rules."""
from services.network import render, schemas
from services.network.api.access import manager
from services.network.api.resources import VERBS, resource_routes

_GROUPS = {verb: verb for verb in VERBS}
_RULES = {verb: f"{verb}_rule" + ("s" if verb == "list" else "") for verb in VERBS}


def _groups():
    return manager().security_groups


ROUTES = resource_routes(
    "security_groups", "security_group", url="/v2.0/security-groups", of=_groups, names=_GROUPS,
    show=render.security_group, create_schema=schemas.SG_CREATE, update_schema=schemas.SG_UPDATE,
) + resource_routes(
    "security_group_rules", "security_group_rule", url="/v2.0/security-group-rules", of=_groups, names=_RULES,
    verbs=("list", "get", "create", "delete"), show=render.sg_rule, create_schema=schemas.SG_RULE_CREATE)
