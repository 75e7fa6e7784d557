"""make_app(): the Flask factory every service shares (errors, request ids, auth, DB hooks, /healthz, /metrics)."""
from __future__ import annotations

import logging
import uuid

import jsonschema
from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from appliance import bodies, errors, policy
from appliance.config import Settings
from appliance.metrics import Metrics
from appliance.tokens import TokenError, TokenProvider

log = logging.getLogger("egret.app")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request
            record.request_id = "-"
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_egret", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._egret = True
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def public(view):
    """Mark a view as reachable without a token (version discovery, health, S3's own auth)."""
    view._egret_public = True
    return view


def settings_of(app=None) -> Settings:
    return (app or current_app).extensions["egret.settings"]


def make_app(service: str, settings: Settings, *, error_format: str = "keystone",
             policies: dict | None = None, database=None, request_id_headers=("X-Openstack-Request-Id",)) -> Flask:
    """Build a service app. `database` is the service's peewee DatabaseProxy, already initialised."""
    configure_logging(settings.log_level)
    app = Flask(f"egret.{service}")
    app.config["MAX_CONTENT_LENGTH"] = None  # services check sizes themselves so uploads can stream
    app.json.sort_keys = False
    app.extensions["egret.settings"] = settings
    app.extensions["egret.service"] = service
    app.extensions["egret.tokens"] = TokenProvider.from_settings(settings)
    app.extensions["egret.policy"] = policy.Enforcer({**policy.BASE_RULES, **(policies or {})}, settings.policy)
    metrics = Metrics(service)
    app.extensions["egret.metrics"] = metrics
    render_error = errors.FORMATS[error_format]

    @app.before_request
    def _begin():
        g.request_id = "req-" + str(uuid.uuid4())
        metrics.start()
        g.context = None
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        limit = getattr(view, "_egret_max_body", settings.max_request_body)
        if limit is not None:
            bodies.bound(limit)
        if database is not None:
            database.connect(reuse_if_open=True)
        if view is None or getattr(view, "_egret_public", False):
            return
        token = request.headers.get("X-Auth-Token")
        if not token:
            raise _unauthorized(settings, "The request you have made requires authentication.")
        try:
            g.context = app.extensions["egret.tokens"].validate(token)
        except TokenError as exc:
            raise _unauthorized(settings, str(exc)) from None

    @app.after_request
    def _finish(response):
        for header in request_id_headers:
            response.headers[header] = g.get("request_id", "")
        metrics.finish(response)
        return response

    @app.teardown_request
    def _close_db(exc):
        if database is not None and not database.is_closed():
            database.close()

    @app.errorhandler(errors.ApiError)
    def _api_error(err):
        if err.status >= 500:
            log.error("%s: %s", err.status, err.message)
        return render_error(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        message = {404: "The resource could not be found.",
                   405: f"The method {request.method} is not allowed for this resource."}.get(
            exc.code, exc.description or exc.name)
        return render_error(errors.ApiError(message, status=exc.code or 500))

    @app.errorhandler(TimeoutError)
    def _stalled(exc):
        # a client that stopped sending (the worker's socket timeout): answer, then stop reading from it.
        # Through the app's own ApiError handler, so S3 answers in XML.
        bodies.hang_up()
        return app.handle_user_exception(errors.ApiError(
            f"The request body did not arrive within {bodies.idle_timeout(settings):g} seconds.", status=408))

    def _bad_framing(exc):
        bodies.hang_up()
        return app.handle_user_exception(errors.BadRequest(f"Malformed request body: {exc or exc.__class__.__name__}."))

    for kind in (bodies.FramingError, *bodies.GUNICORN_BODY_ERRORS):  # met while a streaming view reads
        app.register_error_handler(kind, _bad_framing)

    @app.errorhandler(Exception)
    def _crash(exc):
        log.exception("unhandled error")
        return render_error(errors.ApiError("An unexpected error prevented the server from fulfilling "
                                            "your request.", status=500))

    @app.get("/healthz")
    @public
    def _healthz():
        checks = {}
        status = 200
        if database is not None:
            try:
                database.execute_sql("SELECT 1")
                checks["database"] = "ok"
            except Exception as exc:  # any failure means unhealthy
                checks["database"] = f"error: {exc.__class__.__name__}"
                status = 503
        return jsonify(service=service, status="ok" if status == 200 else "error", checks=checks), status

    @app.get("/metrics")
    @public
    def _metrics():
        return metrics.render()

    return app


def _unauthorized(settings: Settings, message: str) -> errors.Unauthorized:
    return errors.Unauthorized(message, headers={
        "WWW-Authenticate": f'Keystone uri="{settings.url("identity", "/v3")}"'})


def max_body(limit: int | None):
    """Override the request-body limit for one view (None: unlimited, the view streams)."""
    def deco(view):
        view._egret_max_body = limit
        return view
    return deco


def json_body(schema: dict | None = None, *, required: bool = True) -> dict:
    """The request's JSON document, checked against `schema`; errors name the offending field."""
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise errors.BadRequest("The request body is empty; a JSON document is required.")
        return {}
    body = bodies.parse_json(raw)
    if schema is not None:
        validate(body, schema)
    return body


def validate(document, schema: dict) -> None:
    validator = jsonschema.Draft7Validator(schema)
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return
    path = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        field = f"{path}/{missing}" if path else missing
        raise errors.BadRequest(f"Invalid input for field '{field}': '{missing}' is a required property.")
    if error.validator == "additionalProperties":
        raise errors.BadRequest(f"Invalid input for field '{path or '/'}': {error.message}.")
    raise errors.BadRequest(f"Invalid input for field '{path or '/'}': {error.message}.")


def context():
    """The validated token of this request (TokenData)."""
    return g.context
