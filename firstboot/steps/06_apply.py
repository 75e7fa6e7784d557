"""Step 6: review everything and apply it (Wizard.submit hands it to runner.Runner: progress and rollback)."""
from __future__ import annotations

from firstboot.steps import check_schema

NAME = "apply"
TITLE = "Review and apply"
APPLY_ORDER = 100
SCHEMA = {
    "type": "object",
    "properties": {"password": {"type": "string", "maxLength": 256}},
    "additionalProperties": False,
}


def from_form(form) -> dict:
    return {"password": form["password"]} if form.get("password") else {}


def validate(answers: dict, ctx) -> dict:
    """Only a re-entered admin password (after a restart); everything else was validated by its step."""
    check_schema(answers, SCHEMA)
    return {}
