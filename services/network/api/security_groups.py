"""/v2.0/security-groups and /v2.0/security-group-rules."""
from flask import Blueprint

from services.network import render, schemas
from services.network.api.common import crud, manager

groups = crud("security_groups", "security_groups", "security_group", url="/v2.0/security-groups",
              list_fn=lambda c: manager().list_security_groups(c),
              show_fn=lambda c, i: render.security_group(manager().get_security_group(c, i)),
              create_fn=lambda c, b: manager().create_security_group(c, b),
              update_fn=lambda c, i, b: manager().update_security_group(c, i, b),
              delete_fn=lambda c, i: manager().delete_security_group(c, i),
              create_schema=schemas.SG_CREATE, update_schema=schemas.SG_UPDATE)
rules = crud("security_group_rules", "security_group_rules", "security_group_rule", url="/v2.0/security-group-rules",
             list_fn=lambda c: manager().list_sg_rules(c),
             show_fn=lambda c, i: render.sg_rule(manager().get_sg_rule(c, i)),
             create_fn=lambda c, b: manager().create_sg_rule(c, b),
             delete_fn=lambda c, i: manager().delete_sg_rule(c, i),
             create_schema=schemas.SG_RULE_CREATE)

bp = Blueprint("security", __name__)
bp.register_blueprint(groups)
bp.register_blueprint(rules)
