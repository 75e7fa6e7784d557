"""A server's instance actions (Nova's os-instance-actions): what was done to it, by whom, and when."""
from __future__ import annotations

from appliance.errors import NotFound
from services.compute.models import InstanceAction

# the API's action names as Nova records them (nova/compute/instance_actions.py)
NAMES = {"os-start": "start", "os-stop": "stop", "reboot": "reboot", "pause": "pause", "unpause": "unpause",
         "suspend": "suspend", "resume": "resume", "resize": "resize", "confirmResize": "confirmResize",
         "revertResize": "revertResize", "createImage": "createImage", "lock": "lock", "unlock": "unlock"}
PREFIX = "req-"


def record(inst, action: str, ctx=None, message: str | None = None) -> None:
    InstanceAction.create(instance_id=inst.id, action=action, user_id=getattr(ctx, "user_id", "") or "",
                          project_id=inst.project_id, message=message)


def request_id(row) -> str:
    """The action's request id as Nova shows it (req-<uuid>): the row's own id."""
    return PREFIX + row.id


def list_for(inst) -> list:
    """Newest first, as Nova lists them."""
    return list(InstanceAction.select().where(InstanceAction.instance_id == inst.id)
                .order_by(InstanceAction.start_time.desc(), InstanceAction.id))


def get(inst, rid: str):
    row = None
    if rid.startswith(PREFIX):
        row = InstanceAction.get_or_none((InstanceAction.id == rid[len(PREFIX):])
                                         & (InstanceAction.instance_id == inst.id))
    if row is None:
        raise NotFound(f"Action {rid} on instance {inst.id} could not be found.")
    return row
