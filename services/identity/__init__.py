"""The identity service: a Keystone v3 compatible API (tokens, projects, users, roles, catalog, credentials)."""
from __future__ import annotations

from prometheus_client import Gauge

from appliance import config, routes
from appliance.app import make_app
from appliance.db import migrate_service, open_service_database
from services.identity import models, sealing
from services.identity.api import TABLES
from services.identity.authn import Authenticator
from services.identity.credentials import Credentials
from services.identity.manager import Manager
from services.identity.policies import POLICIES


def _open(settings):
    return open_service_database(settings, "identity", models.database, migrations=False)


def migrate(settings) -> list[str]:
    return migrate_service(settings, "identity", models.database)


def rotate_credential_keys(settings) -> tuple[int, int]:
    """Rotate the credential keys and re-encrypt every credential with the new primary: (primary, rows)."""
    primary = sealing.install(settings).rotate()
    _open(settings)
    try:
        return primary, sealing.reseal(models.Credential, models.Credential.blob)
    finally:
        models.database.close()


def create_app(settings=None, *, driver=None):
    settings = settings or config.load()
    sealing.install(settings)
    open_service_database(settings, "identity", models.database)
    try:
        sealing.reseal(models.Credential, models.Credential.blob, legacy_only=True)
    finally:
        models.database.close()
    app = make_app("identity", settings, error_format="keystone", policies=POLICIES, database=models.database)
    app.url_map.strict_slashes = False
    manager = Manager(settings)
    app.extensions["egret.manager"] = manager
    app.extensions["egret.credentials"] = Credentials(manager)
    app.extensions["egret.authn"] = Authenticator(manager, app.extensions["egret.tokens"])
    routes.register(app, *TABLES)

    www_auth = f'Keystone uri="{settings.url("identity", "/v3")}"'

    @app.after_request
    def _www_authenticate(response):
        # every 401 tells the client where to authenticate, as Keystone does
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = www_auth
        return response

    _register_metrics(app)
    return app


def _register_metrics(app) -> None:
    registry = app.extensions["egret.metrics"].registry

    def counter(model):
        def read():
            try:
                models.database.connect(reuse_if_open=True)
                return model.select().count()
            except Exception:  # a scrape must not fail because the DB is busy
                return float("nan")
        return read

    for name, model in (("users", models.User), ("projects", models.Project),
                        ("application_credentials", models.AppCredential)):
        Gauge(f"egret_identity_{name}", f"Number of identity {name}", registry=registry).set_function(counter(model))
