"""Volume type manager (Cinder's types and extra specs): the default type, visibility of private types, specs."""
from __future__ import annotations

from appliance import errors
from services.storage import schemas
from services.storage.models import Volume, VolumeType

DEFAULT_TYPE = "__DEFAULT__"


def _check_specs(specs) -> dict:
    if not isinstance(specs, dict) or not all(isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255
                                              and len(v) <= 255 for k, v in specs.items()):
        raise errors.BadRequest("Invalid input for field 'extra_specs': keys and values are strings of at most "
                                "255 characters.")
    return specs


def _not_found(type_id) -> errors.NotFound:
    return errors.NotFound(f"Volume type {type_id} could not be found.")


class VolumeTypeManager:
    """Types are global; a private one is seen only by those who may manage types (the route decides who)."""

    def ensure_default(self) -> VolumeType:
        vt = VolumeType.get_or_none(VolumeType.name == DEFAULT_TYPE)
        if vt is None:
            vt = VolumeType.create(name=DEFAULT_TYPE, description="Default Volume Type")
        return vt

    def find(self, ref) -> VolumeType:
        """The type a volume create names (id or name); none named is the default type."""
        if ref in (None, ""):
            return self.ensure_default()
        vt = VolumeType.get_or_none((VolumeType.id == ref) | (VolumeType.name == ref))
        if vt is None:
            raise _not_found(ref)
        return vt

    def list(self, see_private: bool) -> list[VolumeType]:
        query = VolumeType.select().order_by(VolumeType.name)
        if not see_private:
            query = query.where(VolumeType.is_public == True)  # noqa: E712 (peewee expression)
        return list(query)

    def get(self, type_id: str, see_private: bool = True) -> VolumeType:
        vt = VolumeType.get_or_none(VolumeType.id == type_id)
        if vt is None or (not vt.is_public and not see_private):
            raise _not_found(type_id)
        return vt

    def create(self, body: dict) -> VolumeType:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise errors.BadRequest("Invalid input for field 'volume_type/name': a string of 1-255 characters.")
        if VolumeType.select().where(VolumeType.name == name).exists():
            raise errors.Conflict(f"Volume Type {name} already exists.")
        public_flag = body.get("os-volume-type-access:is_public", body.get("is_public", True))
        return VolumeType.create(name=name, description=body.get("description"),
                                 is_public=schemas.to_bool(public_flag),
                                 extra_specs=_check_specs(body.get("extra_specs") or {}))

    def update(self, vt: VolumeType, body: dict) -> VolumeType:
        for field in ("name", "description"):
            if field in body:
                setattr(vt, field, body[field])
        if "is_public" in body:
            vt.is_public = schemas.to_bool(body["is_public"])
        vt.save()
        return vt

    def delete(self, vt: VolumeType) -> None:
        if Volume.select().where(Volume.volume_type == vt.id).exists():
            raise errors.BadRequest(f"Target volume type {vt.id} is still in use.")
        vt.delete_instance()

    def set_specs(self, vt: VolumeType, specs) -> dict:
        vt.extra_specs = {**vt.extra_specs, **_check_specs(specs)}
        vt.save()
        return vt.extra_specs

    def delete_spec(self, vt: VolumeType, key: str) -> None:
        if key not in vt.extra_specs:
            raise errors.NotFound(f"Volume type extra spec {key} could not be found.")
        vt.extra_specs = {k: v for k, v in vt.extra_specs.items() if k != key}
        vt.save()
