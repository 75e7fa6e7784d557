"""The wizard's steps, one module each (NN_<name>.py): SCHEMA, from_form(), validate(), apply()."""
from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from appliance import config
from appliance.config import Settings


class StepError(Exception):
    """Bad input for one field of one step; `field` is a JSON path such as 'address' or 'ntp_servers/1'."""

    def __init__(self, field: str, message: str, **extra):
        super().__init__(message)
        self.field = field
        self.message = message
        self.extra = extra


@dataclass
class Context:
    """Everything a step may use; tests swap the system layer, identity and service starter for fakes."""
    settings: Settings
    system: object
    identity: object
    services: object
    state: object
    membership: object = None  # found / join a site, enrol in a hub (firstboot.backends.RealMembership)
    secrets: dict = field(default_factory=dict)   # in memory only: admin password
    clock: object = None
    hardware_cache: dict = field(default_factory=dict)

    def now(self) -> float:
        return (self.clock or time.time)()

    def interfaces(self) -> list[dict]:
        return self.system.interfaces()

    def disks(self) -> list[dict]:
        return self.system.disks()


def check_schema(document, schema: dict) -> None:
    """JSON-schema check whose error names the field, like appliance.app.validate."""
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    path = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1]
        field_ = f"{path}/{missing}" if path else missing
        raise StepError(field_, f"'{field_}' is required.")
    if error.validator == "additionalProperties":
        raise StepError(path or "/", error.message + ".")
    raise StepError(path or "/", f"Invalid value for '{path or '/'}': {error.message}.")


def _load():
    steps = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name[:2].isdigit():
            steps.append(importlib.import_module(f"{__name__}.{info.name}"))
    return steps


STEPS = _load()
BY_NAME = {s.NAME: s for s in STEPS}
# the steps whose answers the apply step consumes (everything but review/apply itself)
ANSWER_STEPS = [s for s in STEPS if s.NAME != "apply"]


def get(name: str):
    try:
        return BY_NAME[name]
    except KeyError:
        raise StepError("step", f"There is no step named {name!r}.") from None


def planned_settings(ctx) -> tuple[config.Settings, dict]:
    """The settings the box runs with after setup, and the TOML document that records them."""
    answers = ctx.state.answers()
    top, sections = {}, {}
    for step in ANSWER_STEPS:
        if hasattr(step, "config_sections"):
            for key, value in step.config_sections(answers[step.NAME], ctx).items():
                if key == "@settings":
                    top.update(value)
                else:
                    sections[key] = value
    merged_service = {**ctx.settings.service, **sections}
    new = config.replace(ctx.settings, service=merged_service, **top)
    return new, {**top, "service": sections}
