"""The identity service: a Keystone v3 compatible API (tokens, projects, users, roles, catalog, credentials)."""
from __future__ import annotations

from appliance import config
from appliance.db import migrate_service, open_service_database


def _open(settings):
    from services.identity import models
    return open_service_database(settings, "identity", models.database, migrations=False)


def migrate(settings) -> list[str]:
    from services.identity import models
    return migrate_service(settings, "identity", models.database)


def rotate_credential_keys(settings) -> tuple[int, int]:
    """Rotate the credential keys and re-encrypt every credential with the new primary: (primary, rows)."""
    from services.identity import models, sealing
    primary = sealing.install(settings).rotate()
    _open(settings)
    try:
        return primary, sealing.reseal(models.Credential, models.Credential.blob)
    finally:
        models.database.close()


def create_app(settings=None, *, driver=None):
    from flask import request

    from appliance import errors
    from appliance.app import make_app
    from services.identity import models, sealing
    from services.identity.api import auth, catalog, credentials, discovery, projects, roles, users
    from services.identity.authn import Authenticator
    from services.identity.credentials import Credentials
    from services.identity.manager import Manager
    from services.identity.policies import POLICIES

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
    app.extensions["identity.manager"] = manager
    app.extensions["identity.credentials"] = Credentials(manager)
    app.extensions["identity.authn"] = Authenticator(manager, app.extensions["egret.tokens"])
    for module in (discovery, auth, projects, users, roles, catalog, credentials):
        app.register_blueprint(module.bp)

    www_auth = f'Keystone uri="{settings.url("identity", "/v3")}"'

    @app.before_request
    def _bounded_chunked_body():
        # a chunked body has no Content-Length for the core's check, so read at most the limit here
        if request.content_length is None and request.method in ("POST", "PUT", "PATCH"):
            limit = settings.max_request_body
            data = request.stream.read(limit + 1)
            if len(data) > limit:
                raise errors.PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
            request._cached_data = data

    @app.after_request
    def _drain_rejected_body(response):
        # read (and drop) a moderately oversized body before answering 413: closing with unread data makes
        # the kernel reset the connection, and the client would never see the 413
        if response.status_code == 413:
            budget = 8 * settings.max_request_body
            try:
                while budget > 0:
                    chunk = request.stream.read(min(65536, budget))
                    if not chunk:
                        break
                    budget -= len(chunk)
            except Exception:  # a client that went away is fine
                pass
        return response

    @app.after_request
    def _www_authenticate(response):
        # every 401 tells the client where to authenticate, as Keystone does
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = www_auth
        return response

    _register_metrics(app)
    return app


def _register_metrics(app) -> None:
    from prometheus_client import Gauge

    from services.identity import models
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
