"""Who the caller is to the managers, and the loads and targets the network's routes declare."""
from __future__ import annotations

from appliance import routes
from services.network import models
from services.network.context import Ctx
from services.network.errors import bad_request, not_found

READ, WRITE = "network:read", "network:write"
ALL_PROJECTS, BINDING = "network:all_projects", "network:binding"
ADMIN_ATTRIBUTES, QOS_MANAGE, QUOTA_MANAGE = "network:admin_attributes", "network:qos:manage", "network:quota:manage"
# the decisions every route's Ctx carries (call.check), named so the table lists them
CTX_CHECKS = (ALL_PROJECTS, BINDING)


manager = routes.manager     # the app's Manager (app.extensions["egret.manager"])


def ctx(call: routes.Call) -> Ctx:
    """The caller as the managers see it; what it may do across projects is the policy's decision."""
    c = getattr(call, "network_ctx", None)
    if c is None:
        c = call.network_ctx = Ctx(project_id=call.project_id, user_id=call.context.user_id,
                                   all_projects=call.check(ALL_PROJECTS), binds_ports=call.check(BINDING))
    return c


def owner_of(resource) -> str | None:
    if isinstance(resource, (models.QosBandwidthLimitRule, models.QosDscpMarkingRule)):
        return resource.policy.project_id
    return resource.project_id


def read_target(call: routes.Call) -> dict:
    """The loaded resource's project; one the caller sees without owning it (a shared or external network, a port
    on its own network, a shared QoS policy) is read as the caller's own, as Neutron's rules let everyone read it."""
    owner = owner_of(call.resource)
    return {"project_id": owner if ctx(call).owns(owner) else call.project_id}


def item(call: routes.Call, singular: str) -> dict:
    doc = call.body.get(singular)
    if isinstance(doc, list):
        raise bad_request("Bulk creation is not supported.", "HTTPBadRequest")
    return doc


def creating(singular: str):
    """The target of a create: the project that will own the new resource (the body's, else the caller's)."""
    def target(call: routes.Call) -> dict:
        doc = item(call, singular)
        return {"project_id": doc.get("project_id") or doc.get("tenant_id") or call.project_id}
    return target


def loader(get):
    """load(call) from a manager getter `get(ctx, rid)` (it raises 404 for what the caller cannot see)."""
    return lambda call: get(ctx(call), call.args["rid"])


def owned(get, kind: str, binder: bool = False):
    """load(call) for a change: what the caller sees but does not own is hidden as well (404), as the managers do;
    with `binder`, whoever binds ports (compute) may change it too."""
    def load(call: routes.Call):
        c = ctx(call)
        obj = get(c, call.args["rid"])
        if not c.owns(obj.project_id) and not (binder and c.binds_ports):
            raise not_found(kind, kind, call.args["rid"])
        return obj
    return load
