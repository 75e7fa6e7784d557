"""The federation hub: sites enrol with a single-use token, then dial home over mTLS with health and inventory."""
from __future__ import annotations

from appliance import config
from appliance.db import migrate_service, open_service_database


def migrate(settings=None) -> list[str]:
    from services.federation import models
    return migrate_service(settings or config.load(), "federation", models.database)


def open_database(settings):
    """The hub's database, migrated, bound to the models (the CLI and the app both use it)."""
    from services.federation import models
    return open_service_database(settings, "federation", models.database)


def prepare(settings) -> None:
    """Before gunicorn binds (the supervisor and `egret serve` call it): the hub CA and the TLS files it serves."""
    from services.federation.manager import install_tls
    install_tls(settings)


def create_app(settings=None, *, driver=None):
    from appliance.app import make_app
    from services.federation import models
    from services.federation.api import hub, sites
    from services.federation.manager import Manager, install_tls
    from services.federation.policies import POLICIES

    settings = settings or config.load()
    db = open_database(settings)
    db.close()
    # prepare() made them before gunicorn bound; again here for an app loaded some other way (tests, a WSGI host)
    install_tls(settings)
    app = make_app("federation", settings, error_format="keystone", policies=POLICIES, database=models.database)
    app.url_map.strict_slashes = False
    manager = Manager(settings)
    app.extensions["federation.manager"] = manager
    for module in (hub, sites):
        app.register_blueprint(module.bp)
    _register_metrics(app, manager)
    return app


def _register_metrics(app, manager) -> None:
    from prometheus_client.core import GaugeMetricFamily

    from services.federation import models

    class SitesByStatus:
        def collect(self):
            family = GaugeMetricFamily("egret_federation_sites", "Enrolled sites by status", labels=["status"])
            try:
                models.database.connect(reuse_if_open=True)
                counts = manager.counts_by_status()
            except Exception:  # a scrape must not fail because the DB is busy
                counts = {}
            for status, count in counts.items():
                family.add_metric([status], count)
            yield family

    app.extensions["egret.metrics"].registry.register(SitesByStatus())
