"""What storage's routes share: the manager, body-first lookups, the policy targets of project and cloud."""
from __future__ import annotations

from appliance import routes
from services.storage.access import denied


def storage():
    """The storage managers (.images .volumes .types .attachments .objects), app.extensions["egret.manager"]."""
    return routes.manager()


def body_first(find):
    """Cinder validated these bodies (400) before it looked the resource up (404) and decided (403): still so."""
    def load(call):
        call.body
        return find(call)
    load.__name__ = getattr(find, "__name__", "load")
    return load


def own_project(call) -> dict:
    """The caller's own project (not the URL's: Cinder lists and creates in the token's project)."""
    return {"project_id": call.project_id}


def own_project_body_first(call) -> dict:
    call.body
    return own_project(call)


def nothing(call) -> dict:
    """Rules about the cloud, not a project (types, image creation): an empty target, as before."""
    return {}


def require(call, rule: str, target: dict) -> None:
    """A rule the handler decides (the route lists it in `checks`), refused as policy.enforce refuses."""
    if not call.check(rule, target):
        raise denied(rule)
