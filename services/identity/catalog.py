"""The service catalog: regions, services, endpoints, and the catalog document tokens carry."""
from __future__ import annotations

from appliance import errors
from services.identity.models import Endpoint, Region, Service, database
from services.identity.refusals import conflict

SERVICE_FIELDS = ("type", "name", "description", "enabled")


class Catalog:
    """Regions, services and endpoints; composed into the Manager as `manager.catalog`."""

    def __init__(self, manager):
        self.m = manager

    def create_region(self, data: dict) -> Region:
        rid = data.get("id") or None
        if rid and Region.get_or_none(Region.id == rid):
            raise conflict("region", f"Duplicate ID, {rid}")
        if data.get("parent_region_id"):
            self.m.get(Region, data["parent_region_id"])
        kw = {k: data[k] for k in ("description", "parent_region_id") if k in data}
        return Region.create(**({"id": rid} if rid else {}), **kw)

    def delete_region(self, region_id: str) -> None:
        region = self.m.get(Region, region_id)
        if Region.get_or_none(Region.parent_region_id == region.id) or Endpoint.get_or_none(
                Endpoint.region_id == region.id):
            raise errors.Forbidden(f"Cannot delete region {region.id}: it has child regions or endpoints.")
        region.delete_instance()

    def update_region(self, region_id: str, data: dict) -> Region:
        region = self.m.get(Region, region_id)
        if "description" in data:
            region.description = data["description"] or ""
            region.save()
        return region

    def create_service(self, data: dict) -> Service:
        return Service.create(**{k: data[k] for k in SERVICE_FIELDS if k in data})

    def update_service(self, service_id: str, data: dict) -> Service:
        service = self.m.get(Service, service_id)
        for k in SERVICE_FIELDS:
            if k in data:
                setattr(service, k, data[k])
        service.save()
        return service

    @staticmethod
    def _check_region(region_id: str | None) -> None:
        if region_id and not Region.get_or_none(Region.id == region_id):
            raise errors.BadRequest(f"Invalid input for field 'region_id': could not find region: {region_id}.")

    def create_endpoint(self, data: dict) -> Endpoint:
        self.m.get(Service, data["service_id"])
        region_id = data.get("region_id") or data.get("region")
        self._check_region(region_id)
        return Endpoint.create(service_id=data["service_id"], interface=data["interface"], url=data["url"],
                               region_id=region_id, enabled=data.get("enabled", True))

    def update_endpoint(self, endpoint_id: str, data: dict) -> Endpoint:
        endpoint = self.m.get(Endpoint, endpoint_id)
        if "service_id" in data:
            self.m.get(Service, data["service_id"])
        self._check_region(data.get("region_id"))
        for k in ("interface", "url", "enabled", "service_id", "region_id"):
            if k in data:
                setattr(endpoint, k, data[k])
        endpoint.save()
        return endpoint

    def delete_endpoint(self, endpoint_id: str) -> None:
        self.m.get(Endpoint, endpoint_id).delete_instance()

    def delete_service(self, service_id: str) -> None:
        service = self.m.get(Service, service_id)
        with database.atomic():
            Endpoint.delete().where(Endpoint.service_id == service.id).execute()
            service.delete_instance()

    def document(self, project_id: str | None) -> list[dict]:
        out: dict[str, dict] = {}
        rows = (Endpoint.select(Endpoint, Service).join(Service, on=(Endpoint.service_id == Service.id))
                .where((Endpoint.enabled == True) & (Service.enabled == True))  # noqa: E712
                .order_by(Endpoint.created_at, Endpoint.id).objects())
        for ep in rows:
            svc = Service(id=ep.service_id, type=ep.type, name=ep.name)
            url = ep.url
            if "$(project_id)s" in url or "%(project_id)s" in url or "$(tenant_id)s" in url:
                if not project_id:
                    continue  # Keystone drops endpoints it cannot substitute
                for marker in ("$(project_id)s", "%(project_id)s", "$(tenant_id)s"):
                    url = url.replace(marker, project_id)
            entry = out.setdefault(svc.id, {"endpoints": [], "id": svc.id, "type": svc.type, "name": svc.name})
            entry["endpoints"].append({"id": ep.id, "interface": ep.interface, "region_id": ep.region_id,
                                       "url": url, "region": ep.region_id})
        return list(out.values())
