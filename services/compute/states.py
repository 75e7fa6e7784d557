"""Nova's server status (from vm_state and task_state), and the copy of its flavor an instance keeps."""
from __future__ import annotations

STATUS = {"active": "ACTIVE", "building": "BUILD", "stopped": "SHUTOFF", "paused": "PAUSED",
          "suspended": "SUSPENDED", "error": "ERROR", "resized": "VERIFY_RESIZE", "deleted": "DELETED",
          "rescued": "RESCUE", "shelved": "SHELVED", "soft-delete": "SOFT_DELETED"}
TASK_STATUS = {"rebooting": "REBOOT", "reboot_started": "REBOOT", "rebooting_hard": "HARD_REBOOT",
               "reboot_started_hard": "HARD_REBOOT", "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
               "resize_finish": "RESIZE", "resize_reverting": "REVERT_RESIZE"}


# an evacuation rebuilds a server whatever its vm_state (active, stopped or error), as Nova shows it
REBUILD_TASKS = ("rebuilding", "rebuild_block_device_mapping", "rebuild_spawning")


def status_of(inst) -> str:
    if inst.task_state in REBUILD_TASKS:
        return "REBUILD"
    if inst.vm_state in ("active",) and inst.task_state in TASK_STATUS:
        return TASK_STATUS[inst.task_state]
    if inst.vm_state == "stopped" and inst.task_state in ("rebooting_hard", "reboot_started_hard"):
        return "HARD_REBOOT"
    return STATUS.get(inst.vm_state, "UNKNOWN")


def flavor_snapshot(f) -> dict:
    """What an instance keeps of its flavor (Nova's instance.flavor)."""
    return {"id": f.id, "name": f.name, "ram": f.ram, "vcpus": f.vcpus, "disk": f.disk, "swap": f.swap,
            "ephemeral": f.ephemeral, "extra_specs": dict(f.extra_specs or {})}
