"""Step 4: storage: which discovered disks hold volumes, images and objects; disks in use need a typed name."""
from __future__ import annotations

from firstboot.steps import StepError, check_schema

NAME = "storage"
TITLE = "Storage"
APPLY_ORDER = 30
PURPOSES = ("volumes", "images", "objects")
SCHEMA = {
    "type": "object",
    "properties": {
        "assignments": {"type": "object",
                        "properties": {p: {"type": ["string", "null"], "maxLength": 64} for p in PURPOSES},
                        "additionalProperties": False},
        "confirm": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 64}},
    },
    "required": ["assignments"],
    "additionalProperties": False,
}


def from_form(form) -> dict:
    assignments = {p: (form.get(f"disk_{p}") or None) for p in PURPOSES}
    confirm = {k[len("confirm_"):]: v.strip() for k, v in form.items() if k.startswith("confirm_") and v.strip()}
    return {"assignments": assignments, "confirm": confirm}


def validate(answers: dict, ctx) -> dict:
    check_schema(answers, SCHEMA)
    disks = {d["name"]: d for d in ctx.disks()}
    confirm = answers.get("confirm", {})
    out = {}
    for purpose in PURPOSES:
        name = answers["assignments"].get(purpose)
        if not name:
            out[purpose] = None
            continue
        name = name.removeprefix("/dev/")
        disk = disks.get(name)
        if disk is None:
            raise StepError(f"assignments/{purpose}", f"There is no disk named {name!r}; found: "
                                                      f"{', '.join(sorted(disks)) or 'none'}.")
        if disk.get("system"):
            raise StepError(f"assignments/{purpose}", f"{name} holds the running system "
                                                      f"({'; '.join(disk['in_use_reasons'])}); pick another disk.")
        if disk["in_use"] and confirm.get(name) != name:
            raise StepError(f"confirm/{name}", f"{name} is in use ({'; '.join(disk['in_use_reasons'])}). "
                                               f"Everything on it will be erased: type its name '{name}' to confirm.",
                            disk=name)
        out[purpose] = name
    return {"assignments": out, "erase_confirmed": sorted(n for n, v in confirm.items() if v == n)}


def summary(answers: dict) -> list[tuple[str, str]]:
    return [(p.capitalize(), f"/dev/{d} (will be formatted)" if d else "system disk (under the state directory)")
            for p, d in answers["assignments"].items()]


def mountpoint(ctx, disk: str):
    return ctx.settings.state_dir / "disks" / disk


def config_sections(answers: dict, ctx) -> dict:
    dirs = {}
    for purpose, disk in answers["assignments"].items():
        base = mountpoint(ctx, disk) if disk else ctx.settings.state_dir
        dirs[f"{purpose}_dir"] = str(base / purpose)
    return {"storage_layout": {"disks": {p: d for p, d in answers["assignments"].items() if d}, **dirs}}


def apply(answers: dict, ctx):
    done = []
    try:
        for disk in dict.fromkeys(d for d in answers["assignments"].values() if d):
            ctx.system.prepare_disk(f"/dev/{disk}", f"egret-{disk}", mountpoint(ctx, disk))
            done.append(disk)
    except Exception:
        undo({"prepared": done}, ctx)
        raise
    for purpose, disk in answers["assignments"].items():
        base = mountpoint(ctx, disk) if disk else ctx.settings.state_dir
        (base / purpose).mkdir(parents=True, exist_ok=True)
    return {"prepared": done}


def undo(record: dict, ctx) -> None:
    for disk in reversed(record.get("prepared", [])):
        ctx.system.release_disk(f"/dev/{disk}", mountpoint(ctx, disk))
