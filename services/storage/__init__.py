"""Storage service: Glance v2 images, Cinder v3 volumes and an S3 object store, one process, three ports."""
from __future__ import annotations

import logging

from appliance import config, routes
from appliance.app import make_app
from appliance.cluster import membership
from appliance.db import migrate_service, open_service_database
from services.storage import metrics, models
from services.storage.api import attachments as attachment_api
from services.storage.api import images as image_api
from services.storage.api import pools as pool_api
from services.storage.api import types as type_api
from services.storage.api import volumes as volume_api
from services.storage.attach import AttachmentManager
from services.storage.drivers.fake import FakeDriver, FakeTarget
from services.storage.drivers.file import FileDriver
from services.storage.drivers.lvm import LvmThinDriver
from services.storage.drivers.tgt import TgtTarget
from services.storage.exports import ExportManager
from services.storage.images import ImageManager
from services.storage.objects import ObjectManager
from services.storage.policies import POLICIES
from services.storage.s3 import api as s3_api
from services.storage.s3.credentials import IdentityCredentials
from services.storage.store import area
from services.storage.types import VolumeTypeManager
from services.storage.volumes import VolumeManager

log = logging.getLogger("egret.storage")


class Storage:
    """The managers every API of this process shares (app.extensions["egret.manager"])."""

    def __init__(self, settings, driver=None, credentials=None, stores=None, target=None):
        """`stores`: {"images": Store, "objects": Store} instead of the file stores (e.g. MemoryStore in tests);
        `target`: the iSCSI target (TgtTarget, FakeTarget) instead of the one the settings name."""
        stores = stores or {}
        self.settings = settings
        driver = driver or _volume_driver(settings)
        self.exports = ExportManager(settings, target or _iscsi_target(settings, driver), driver)
        self.images = ImageManager(settings, stores.get("images"))
        self.types = VolumeTypeManager()
        self.volumes = VolumeManager(settings, driver, self.images, self.types, self.exports)
        self.attachments = AttachmentManager(self.volumes, self.exports)
        self.objects = ObjectManager(settings, stores.get("objects"))
        self.credentials = credentials if credentials is not None else IdentityCredentials(settings)

    def reconcile(self) -> dict:
        report = {**self.images.reconcile(), **self.volumes.reconcile(), **self.exports.reconcile(),
                  **self.objects.reconcile()}
        if any(report.values()):
            log.warning("reconciled after restart: %s", report)
        return report


def _volume_driver(settings):
    backend = settings.section("storage").get("volume_backend", "file")
    if settings.fake_drivers or backend == "fake":
        return FakeDriver()
    if backend == "lvm":
        sec = settings.section("storage")
        return LvmThinDriver(sec.get("lvm_volume_group", "egret"), sec.get("lvm_thin_pool", "egret-pool"))
    return FileDriver(area(settings, "volumes"), settings.section("storage").get("volume_format", "qcow2"))


def iscsi_portal(settings) -> str:
    """host:port this box's iSCSI target listens on: [service.storage] iscsi_portal, else the address the box
    advertises to its site, at iSCSI's port."""
    portal = settings.section("storage").get("iscsi_portal")
    if portal:
        return str(portal)
    host = membership.advertised(settings)[0].rsplit(":", 1)[0]
    return f"{host}:3260"


def _iscsi_target(settings, driver):
    sec, portal = settings.section("storage"), iscsi_portal(settings)
    if settings.fake_drivers or driver.name == "fake":
        # the fake volume driver's volumes are not files a real target could open
        return FakeTarget(portal, paths_must_exist=False)
    return TgtTarget(portal, int(sec.get("iscsi_control_port", 0)), area(settings, "iscsi") / "tgtd.log")


class PortDispatcher:
    """One WSGI callable for three APIs: the port the request arrived on picks the app."""

    def __init__(self, apps: dict[int, object], default):
        self.apps = apps
        self.default = default

    def __call__(self, environ, start_response):
        try:
            port = int(environ.get("SERVER_PORT", 0))
        except ValueError:
            port = 0
        return self.apps.get(port, self.default)(environ, start_response)


def migrate(settings=None) -> list[str]:
    return migrate_service(settings or config.load(), "storage", models.database)


def create_apps(settings=None, *, driver=None, credentials=None, stores=None, target=None) -> dict:
    """The three Flask apps {"image", "volume", "s3"} over one database and one set of managers."""
    settings = settings or config.load()
    db = open_service_database(settings, "storage", models.database)
    storage = Storage(settings, driver, credentials, stores, target)
    storage.reconcile()
    if not db.is_closed():
        db.close()
    apps = {}
    apps["image"] = make_app("storage-image", settings, error_format="glance", policies=POLICIES,
                             database=models.database)
    routes.register(apps["image"], image_api.ROUTES)
    apps["volume"] = make_app("storage-volume", settings, error_format="cinder", policies=POLICIES,
                              database=models.database)
    apps["volume"].before_request(volume_api.negotiate)
    apps["volume"].after_request(volume_api.echo_version)
    routes.register(apps["volume"], volume_api.ROUTES, type_api.ROUTES, attachment_api.ROUTES, pool_api.ROUTES)
    apps["s3"] = make_app("storage-s3", settings, error_format="keystone", policies=POLICIES,
                          database=models.database)
    s3_api.register(apps["s3"])
    for app in apps.values():
        app.extensions["egret.manager"] = storage
    metrics.install(apps["volume"], storage)
    return apps


def create_app(settings=None, *, driver=None, credentials=None, target=None):
    settings = settings or config.load()
    apps = create_apps(settings, driver=driver, credentials=credentials, target=target)
    dispatcher = PortDispatcher({settings.port(name): app for name, app in apps.items()}, apps["image"])
    dispatcher.storage = apps["image"].extensions["egret.manager"]
    dispatcher.flask_apps = apps
    return dispatcher
