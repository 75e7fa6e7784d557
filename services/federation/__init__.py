"""The federation hub: sites enrol with a single-use token, then dial home over mTLS with health and inventory."""
from __future__ import annotations

from appliance import config
from appliance.db import migrate_service, open_service_database
from services.federation import models

# The hub's app stack (Flask app, routes, manager) is imported inside the functions below, not here: `egret`
# imports this package for its parsers on every call, and so does the boot assessment (`egret update health`),
# which must still run, and report which unit failed, on a slot whose service code is broken.


def migrate(settings=None) -> list[str]:
    return migrate_service(settings or config.load(), "federation", models.database)


def open_database(settings):
    """The hub's database, migrated, bound to the models (the CLI and the app both use it)."""
    return open_service_database(settings, "federation", models.database)


def prepare(settings) -> None:
    """Before gunicorn binds (the supervisor and `egret serve` call it): the hub CA, the TLS files it serves and
    the hub's signing key."""
    from services.federation.bundles import hub_signing_key
    from services.federation.manager import install_tls
    install_tls(settings)
    hub_signing_key(settings)  # created once, before the workers start


def create_app(settings=None, *, driver=None):
    from appliance import routes
    from appliance.app import make_app
    from services.federation.api import groups, hub, openapi, sites
    from services.federation.manager import Manager, install_tls
    from services.federation.metrics import FleetGauges
    from services.federation.policies import POLICIES

    settings = settings or config.load()
    db = open_database(settings)
    db.close()
    # prepare() made them before gunicorn bound; again here for an app loaded some other way (tests, a WSGI host)
    install_tls(settings)
    app = make_app("federation", settings, error_format="keystone", policies=POLICIES, database=models.database)
    app.url_map.strict_slashes = False
    manager = Manager(settings)
    app.extensions["egret.manager"] = manager
    routes.register(app, hub.TABLE, sites.TABLE, groups.TABLE, openapi.TABLE)
    app.extensions["egret.metrics"].registry.register(FleetGauges(manager))
    return app
