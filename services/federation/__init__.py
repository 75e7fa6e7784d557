"""The federation hub: sites enrol with a single-use token, then dial home over mTLS with health and inventory."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from appliance import config, routes
from appliance.app import make_app
from appliance.db import migrate_service, open_service_database
from services.federation import models
from services.federation.api import hub, sites
from services.federation.manager import Manager, install_tls
from services.federation.policies import POLICIES


def migrate(settings=None) -> list[str]:
    return migrate_service(settings or config.load(), "federation", models.database)


def open_database(settings):
    """The hub's database, migrated, bound to the models (the CLI and the app both use it)."""
    return open_service_database(settings, "federation", models.database)


def prepare(settings) -> None:
    """Before gunicorn binds (the supervisor and `egret serve` call it): the hub CA and the TLS files it serves."""
    install_tls(settings)


def create_app(settings=None, *, driver=None):
    settings = settings or config.load()
    db = open_database(settings)
    db.close()
    # prepare() made them before gunicorn bound; again here for an app loaded some other way (tests, a WSGI host)
    install_tls(settings)
    app = make_app("federation", settings, error_format="keystone", policies=POLICIES, database=models.database)
    app.url_map.strict_slashes = False
    manager = Manager(settings)
    app.extensions["egret.manager"] = manager
    routes.register(app, hub.TABLE, sites.TABLE)
    _register_metrics(app, manager)
    return app


class SitesByStatus:
    """The egret_federation_sites gauge: enrolled sites by status, read at scrape time."""

    def __init__(self, manager: Manager):
        self.manager = manager

    def collect(self):
        family = GaugeMetricFamily("egret_federation_sites", "Enrolled sites by status", labels=["status"])
        try:
            models.database.connect(reuse_if_open=True)
            counts = self.manager.counts_by_status()
        except Exception:  # a scrape must not fail because the DB is busy
            counts = {}
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family


def _register_metrics(app, manager: Manager) -> None:
    app.extensions["egret.metrics"].registry.register(SitesByStatus(manager))
