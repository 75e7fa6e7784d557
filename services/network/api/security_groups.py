"""/v2.0/security-groups and /v2.0/security-group-rules."""
from services.network import render, schemas
from services.network.api.access import loader, manager
from services.network.api.resources import resource_routes


def _group(c, i):
    return manager().security_groups.get(c, i)


def _rule(c, i):
    return manager().security_groups.get_rule(c, i)


ROUTES = resource_routes(
    "security_groups", "security_group", url="/v2.0/security-groups",
    get=_group, show=render.security_group,
    list_=lambda c: manager().security_groups.list(c),
    create=lambda c, b: manager().security_groups.create(c, b),
    update=lambda c, i, b: manager().security_groups.update(c, i, b),
    delete=lambda c, i: manager().security_groups.delete(c, i),
    create_schema=schemas.SG_CREATE, update_schema=schemas.SG_UPDATE, write_load=loader(_group)) + resource_routes(
    "security_group_rules", "security_group_rule", url="/v2.0/security-group-rules",
    get=_rule, show=render.sg_rule,
    list_=lambda c: manager().security_groups.list_rules(c),
    create=lambda c, b: manager().security_groups.create_rule(c, b),
    delete=lambda c, i: manager().security_groups.delete_rule(c, i),
    create_schema=schemas.SG_RULE_CREATE, write_load=loader(_rule))
