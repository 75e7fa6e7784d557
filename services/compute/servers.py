"""Server records as the API edits and shows them: renames and the attachments a listing shows."""
from __future__ import annotations

from services.compute.models import Instance, VolumeAttachment

# request key -> model attribute, for PUT /servers/{id}
EDITABLE = (("name", "name"), ("description", "description"), ("accessIPv4", "access_ipv4"),
            ("accessIPv6", "access_ipv6"), ("hostname", "hostname"))


def update(inst: Instance, changes: dict) -> Instance:
    for key, attr in EDITABLE:
        if key in changes:
            # a null description clears it; the other fields are strings that Nova shows as ""
            value = changes[key] if changes[key] is not None else (None if key == "description" else "")
            setattr(inst, attr, value)
    inst.save()
    return inst


def live() -> list[Instance]:
    """Every server not deleted, with its state and flavor only (the metrics gauges)."""
    return list(Instance.select(Instance.vm_state, Instance.flavor).where(Instance.deleted == False))  # noqa: E712


def volume_rows(instances) -> dict[str, list[VolumeAttachment]]:
    """server id -> its volume attachment rows, in one query."""
    ids = [i.id for i in instances]
    out: dict[str, list] = {}
    if ids:
        for a in VolumeAttachment.select().where(VolumeAttachment.instance.in_(ids)):
            out.setdefault(a.instance_id, []).append(a)
    return out
