"""Step 4: storage: which discovered disks hold volumes, images and objects; disks in use need a typed name."""
from __future__ import annotations

from pathlib import Path

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


def data_root(ctx):
    """The storage service's data directory (services/storage/store.py: data_dir or <state_dir>/storage)."""
    override = ctx.settings.section("storage").get("data_dir")
    return Path(override) if override else ctx.settings.state_dir / "storage"


def config_sections(answers: dict, ctx) -> dict:
    dirs = {f"{p}_dir": str((mountpoint(ctx, d) if d else data_root(ctx)) / p)
            for p, d in answers["assignments"].items()}
    return {"storage_layout": {"disks": {p: d for p, d in answers["assignments"].items() if d}, **dirs}}


def apply(answers: dict, ctx):
    """Format and mount each chosen disk; the storage service's area for a purpose links onto its disk."""
    done, links = [], []
    try:
        for disk in dict.fromkeys(d for d in answers["assignments"].values() if d):
            ctx.system.prepare_disk(f"/dev/{disk}", f"egret-{disk}", mountpoint(ctx, disk))
            done.append(disk)
        for purpose, disk in answers["assignments"].items():
            link = data_root(ctx) / purpose
            if not disk:
                link.mkdir(parents=True, exist_ok=True)
                continue
            target = mountpoint(ctx, disk) / purpose
            target.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            elif link.is_dir():
                if any(link.iterdir()):
                    raise RuntimeError(f"{link} already holds data; move it away before putting {purpose} on {disk}")
                link.rmdir()
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
            links.append(str(link))
    except Exception:
        undo({"prepared": done, "links": links}, ctx)
        raise
    return {"prepared": done, "links": links}


def undo(record: dict, ctx) -> None:
    for link in record.get("links", []):
        if Path(link).is_symlink():
            Path(link).unlink()
    for disk in reversed(record.get("prepared", [])):
        ctx.system.release_disk(f"/dev/{disk}", mountpoint(ctx, disk))
