"""Site groups: a named label selector with rollout limits (max_parallel, max_failures) for later rollouts."""
from __future__ import annotations

import peewee

from appliance import errors
from services.federation import labels, models, schemas

DEFAULT_MAX_PARALLEL, DEFAULT_MAX_FAILURES = 1, 0


def _check(fields: dict) -> None:
    """The manager's own checks (the CLI bypasses the API's schema); each refusal names the field."""
    if "name" in fields and not schemas.valid_name(fields["name"]):
        raise errors.BadRequest("Invalid input for field 'site_group/name': a DNS label (up to 63 characters of "
                                "a-z 0-9 -, beginning and ending alphanumeric).")
    if "selector" in fields:
        labels.check(fields["selector"], "site_group/selector")
    for name, low in (("max_parallel", 1), ("max_failures", 0)):
        value = fields.get(name, low)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10000:
            raise errors.BadRequest(f"Invalid input for field 'site_group/{name}': an integer from {low} to 10000.")


class SiteGroups:
    """Mixed into the hub's Manager."""

    def get_group(self, name: str) -> models.SiteGroup:
        # a name no group can have is not looked up (PostgreSQL errors on some strings, e.g. NUL)
        row = models.SiteGroup.get_or_none(models.SiteGroup.name == name) if schemas.valid_name(name) else None
        if row is None:
            raise errors.NotFound(f"Could not find site group: {str(name)[:80]}.")
        return row

    def list_groups(self) -> list[models.SiteGroup]:
        return list(models.SiteGroup.select().order_by(models.SiteGroup.name))

    def create_group(self, fields: dict) -> models.SiteGroup:
        _check(fields)
        name = fields["name"]
        try:
            with models.database.atomic():
                if models.SiteGroup.get_or_none(models.SiteGroup.name == name) is not None:
                    raise errors.Conflict(f"A site group named '{name}' exists already.")
                return models.SiteGroup.create(name=name, selector=dict(fields["selector"]),
                                               max_parallel=fields.get("max_parallel", DEFAULT_MAX_PARALLEL),
                                               max_failures=fields.get("max_failures", DEFAULT_MAX_FAILURES))
        except peewee.IntegrityError:  # a concurrent create of the same name won
            raise errors.Conflict(f"A site group named '{name}' exists already.") from None

    def update_group(self, name: str, fields: dict) -> models.SiteGroup:
        _check(fields)
        with models.database.atomic():
            row = self.get_group(name)
            for key in ("selector", "max_parallel", "max_failures"):
                if key in fields:
                    setattr(row, key, fields[key])
            row.save()
        return row

    def delete_group(self, name: str) -> None:
        self.get_group(name).delete_instance()

    def members(self, group: models.SiteGroup) -> list[str]:
        """The sites the group's selector matches now (decommissioned sites are out of every group)."""
        return [row.name for row in models.Site.select().order_by(models.Site.name)
                if row.decommissioned_at is None and labels.matches(row.labels or {}, group.selector or {})]

    def render_group(self, row: models.SiteGroup, *, with_sites: bool = False) -> dict:
        out = {"id": row.id, "name": row.name, "selector": row.selector or {}, "max_parallel": row.max_parallel,
               "max_failures": row.max_failures, "created_at": _iso(row.created_at),
               "updated_at": _iso(row.updated_at)}
        if with_sites:
            out["sites"] = self.members(row)
        return out


def _iso(value) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
