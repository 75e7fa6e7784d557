"""Flavor administration beyond create/get/list: description, extra specs, access lists, deletion."""
from __future__ import annotations

from appliance.errors import BadRequest, Conflict, NotFound
from services.compute.drivers.hardware import plan
from services.compute.drivers.specs import HostCaps, HostLacks, UnsupportedSpec
from services.compute.models import Flavor, FlavorAccess

# a host that could give almost any flavor everything it asks for, so that the planner gets through every
# check: planning against it finds what is malformed in the specs, independent of the hosts that will run them
_ANY_HOST = HostCaps(cpus=4096, dedicated_cpus=list(range(4096)), thread_siblings=[[c, c + 2048] for c in range(2048)],
                     numa_nodes=64,
                     hugepages={2048: 1 << 30, 1048576: 1 << 20})


def check_extra_specs(specs: dict, vcpus: int, ram: int) -> None:
    """400 for malformed extra specs (hw:cpu_policy=bogus, hw:numa_nodes=x, ...)."""
    try:
        plan(specs, vcpus, ram, _ANY_HOST)
    except HostLacks:
        pass  # even that host is too small (a 5000-vCPU pinned flavor): scheduling's question, as in Nova
    except UnsupportedSpec as exc:
        raise BadRequest(str(exc)) from None


def page(flavors: list, marker: str | None, limit: int | None) -> list:
    """Nova's marker/limit paging over an ordered listing."""
    if marker:
        ids = [f.id for f in flavors]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        flavors = flavors[ids.index(marker) + 1:]
    return flavors if limit is None else flavors[:limit]


def set_description(flavor: Flavor, description: str | None) -> Flavor:
    flavor.description = description
    flavor.save()
    return flavor


def delete(flavor: Flavor) -> None:
    flavor.delete_instance(recursive=True)


def extra_spec(flavor: Flavor, key: str) -> str:
    if key not in (flavor.extra_specs or {}):
        raise NotFound(f"Flavor {flavor.id} has no extra specs with key {key}.")
    return flavor.extra_specs[key]


def merge_extra_specs(flavor: Flavor, specs: dict) -> dict:
    merged = {**(flavor.extra_specs or {}), **{k: str(v) for k, v in specs.items()}}
    check_extra_specs(merged, flavor.vcpus, flavor.ram)
    flavor.extra_specs = merged
    flavor.save()
    return merged


def set_extra_spec(flavor: Flavor, key: str, value) -> str:
    flavor.extra_specs = {**(flavor.extra_specs or {}), key: str(value)}
    flavor.save()
    return str(value)


def unset_extra_spec(flavor: Flavor, key: str) -> None:
    extra_spec(flavor, key)
    flavor.extra_specs = {k: v for k, v in flavor.extra_specs.items() if k != key}
    flavor.save()


def access_list(flavor: Flavor) -> list[str]:
    """The projects a private flavor is shared with."""
    if flavor.is_public:
        raise NotFound("Access list not available for public flavors.")
    return [a.project_id for a in flavor.access]


def _grant(flavor: Flavor, project_id: str):
    return FlavorAccess.get_or_none((FlavorAccess.flavor == flavor) & (FlavorAccess.project_id == project_id))


def add_access(flavor: Flavor, project_id: str) -> list[str]:
    if flavor.is_public:
        raise Conflict("Can not add access to a public flavor.")
    if _grant(flavor, project_id):
        raise Conflict(f"Flavor access already exists for flavor {flavor.id} and project {project_id} combination.")
    FlavorAccess.create(flavor=flavor, project_id=project_id)
    return [a.project_id for a in flavor.access]


def remove_access(flavor: Flavor, project_id: str) -> list[str]:
    if flavor.is_public:
        raise Conflict("Can not add access to a public flavor.")
    row = _grant(flavor, project_id)
    if row is None:
        raise NotFound(f"Flavor access not found for {flavor.id} / {project_id} combination.")
    row.delete_instance()
    return [a.project_id for a in flavor.access]
