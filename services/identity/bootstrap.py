"""egret bootstrap for identity: keys, schema, default domain, roles, admin, service users, the catalog."""
from __future__ import annotations

import json
import secrets
from pathlib import Path

from appliance.clients import service_credentials_path, write_service_credentials
from appliance.manifest import load_manifest, start_order
from appliance.tokens import KeyRepository
from services.identity import _open as open_db
from services.identity import migrate, passwords
from services.identity.manager import Manager
from services.identity.models import Domain, Endpoint, ImpliedRole, Project, Region, Role, Service, User

# port name -> catalog entries (type, service name, path); URL shapes the OpenStack clients accept
CATALOG = {
    "identity": [("identity", "keystone", "/v3/")],
    "compute": [("compute", "nova", "/v2.1")],
    "network": [("network", "neutron", "")],
    "image": [("image", "glance", "")],
    "volume": [("block-storage", "cinder", "/v3/$(project_id)s"), ("volumev3", "cinderv3", "/v3/$(project_id)s")],
    "s3": [("object-store", "s3", "")],
}
MANAGED_TYPES = {t for entries in CATALOG.values() for t, _, _ in entries}
INTERFACES = ("public", "internal", "admin")


class BootstrapError(RuntimeError):
    """Bootstrap cannot proceed (e.g. no admin password on a fresh state dir)."""


def _units(settings):
    return start_order(load_manifest(), settings.enabled_services)


def _open(settings):
    """Migrated and connected; returns the real database (closing the proxy keeps SQLite open)."""
    migrate(settings)
    db = open_db(settings)
    db.connect(reuse_if_open=True)
    return db


def is_bootstrapped(settings) -> bool:
    db = open_db(settings)
    try:
        if not db.table_exists("user"):
            return False
        return User.get_or_none((User.domain_id == "default") & (User.name == "admin")) is not None
    finally:
        db.close()


def bootstrap(settings, admin_password: str | None) -> dict:
    """Idempotent; with admin_password=None it only refreshes the catalog and service users."""
    KeyRepository(settings.key_repository, settings.fernet_max_active_keys).setup()
    db = _open(settings)
    try:
        manager = Manager(settings)
        admin = User.get_or_none((User.domain_id == "default") & (User.name == "admin"))
        if admin is None and not admin_password:
            raise BootstrapError("identity is not bootstrapped yet and no admin password was given "
                                 "(set EGRET_ADMIN_PASSWORD); there is no default password")
        report = {"admin_created": False}
        with db.atomic():
            if not Domain.get_or_none(Domain.id == "default"):
                Domain.create(id="default", name="Default", description="The default domain")
            roles = {}
            for name in ("admin", "member", "reader", "service"):
                roles[name] = Role.get_or_none((Role.name == name) & Role.domain_id.is_null()) or \
                    Role.create(name=name)
            for prior, implied in (("admin", "member"), ("member", "reader")):
                if not ImpliedRole.get_or_none((ImpliedRole.prior_role_id == roles[prior].id) &
                                               (ImpliedRole.implied_role_id == roles[implied].id)):
                    ImpliedRole.create(prior_role_id=roles[prior].id, implied_role_id=roles[implied].id)
            projects = {}
            for name in ("admin", "service"):
                projects[name] = Project.get_or_none((Project.domain_id == "default") & (Project.name == name)) or \
                    Project.create(name=name, domain_id="default",
                                   description="Bootstrap project for " + ("the cloud admin" if name == "admin"
                                                                           else "service users"))
            if not Region.get_or_none(Region.id == settings.region):
                Region.create(id=settings.region, description="")
        if admin is None:
            admin = manager.create_user({"name": "admin", "domain_id": "default", "password": admin_password,
                                         "default_project_id": projects["admin"].id})
            report["admin_created"] = True
        manager.grant("user", admin.id, "project", projects["admin"].id, roles["admin"].id)
        manager.grant("user", admin.id, "system", "all", roles["admin"].id)
        report["service_users"] = _service_users(settings, manager, projects["service"], roles)
        report["catalog"] = _catalog(settings)
        # events older than any live token are dropped here, so the file every service reads stays small
        report["revocations_pruned"] = manager.revocations.prune()
        return report
    finally:
        db.close()


def _service_users(settings, manager, project, roles) -> list[str]:
    names = list(dict.fromkeys(u.service for u in _units(settings) if u.service != "identity"))
    for name in names:
        path = service_credentials_path(settings, name)
        stored = None
        if path.exists():
            try:
                stored = json.loads(path.read_text()).get("password")
            except ValueError:
                stored = None
        user = User.get_or_none((User.domain_id == "default") & (User.name == name))
        if user is None:
            stored = stored or secrets.token_urlsafe(24)
            user = manager.create_user({"name": name, "domain_id": "default", "password": stored,
                                        "default_project_id": project.id})
        elif not stored or not passwords.check_secret(stored, user.password_hash):
            stored = secrets.token_urlsafe(24)
            manager.update_user(user.id, {"password": stored, "enabled": True})
        for role in ("admin", "service"):
            manager.grant("user", user.id, "project", project.id, roles[role].id)
        write_service_credentials(settings, name, {"username": name, "password": stored, "project": "service"})
    return names


def _catalog(settings) -> list[str]:
    ports = list(dict.fromkeys(p for u in _units(settings) for p in u.ports))
    wanted: dict[str, tuple[str, str]] = {}
    for port in ports:
        for stype, name, path in CATALOG.get(port, ()):
            wanted[stype] = (name, settings.url(port, path))
    for service in list(Service.select()):
        if service.type in MANAGED_TYPES and service.type not in wanted:
            Endpoint.delete().where(Endpoint.service_id == service.id).execute()
            service.delete_instance()
    for stype, (name, url) in wanted.items():
        service = Service.get_or_none(Service.type == stype) or Service.create(type=stype, name=name)
        for interface in INTERFACES:
            ep = Endpoint.get_or_none((Endpoint.service_id == service.id) & (Endpoint.interface == interface) &
                                      (Endpoint.region_id == settings.region))
            if ep is None:
                Endpoint.create(service_id=service.id, interface=interface, region_id=settings.region, url=url)
            elif ep.url != url or not ep.enabled:
                ep.url, ep.enabled = url, True
                ep.save()
    return sorted(wanted)


def undo(settings) -> None:
    """Forget a bootstrap that a failed first-boot apply made: identity's SQLite database and the service users'
    secrets go (the Fernet keys stay: tokens already issued use them). `egret bootstrap --undo` runs it."""
    url = settings.database_for("identity")
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            p.unlink(missing_ok=True)
    secrets_dir = settings.state_dir / "secrets"
    if secrets_dir.is_dir():
        for p in secrets_dir.glob("*-service-user.json"):
            p.unlink()
