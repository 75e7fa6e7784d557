"""HTTP side of the wizard: server-rendered pages (work without JavaScript) and a JSON API, same validation."""
from __future__ import annotations

import secrets
from functools import wraps
from http import HTTPStatus
from pathlib import Path

import yaml
from flask import (Response, abort, jsonify, redirect, render_template, request, session, url_for)
from prometheus_client import Counter, Gauge
from werkzeug.exceptions import HTTPException

from appliance import bodies
from appliance.app import make_app, public
from appliance.pki import api_tls_files
from firstboot import steps
from firstboot.setupcode import LockedOut, lockout_seconds
from firstboot.state import firstboot_dir, write_private
from firstboot.steps import StepError
from firstboot.wizard import _public_trial


def _session_key(settings) -> bytes:
    path = firstboot_dir(settings) / "session-key"
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def request_json():
    """The body's JSON value (None when empty); too deep, invalid or poisoned bodies raise a 400 naming why."""
    raw = request.get_data(cache=True)
    return bodies.parse_json(raw) if raw else None


def api_error(status: int, message: str, field: str | None = None, **extra):
    body = {"code": status, "title": HTTPStatus(status).phrase, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return jsonify(error=body), status


def build_app(settings, wizard):
    app = make_app("firstboot", settings, error_format="keystone")
    # make_app names the app "egret.firstboot" (no such module): point Flask at this package's files
    app.root_path = str(Path(__file__).parent)
    app.template_folder = "templates"
    app.static_folder = "static"
    if "static" not in app.view_functions:
        app.add_url_rule("/static/<path:filename>", endpoint="static",
                         view_func=public(lambda filename: app.send_static_file(filename)))
    else:
        view = app.view_functions["static"]
        app.view_functions["static"] = public(lambda filename: view(filename=filename))
    app.secret_key = _session_key(settings)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="egret_setup", PERMANENT_SESSION_LIFETIME=3600 * 4,
                      SESSION_COOKIE_SECURE=settings.tls_enabled)  # served over HTTPS only: never sent in clear
    app.extensions["egret.firstboot"] = wizard
    _domain_metrics(app, wizard)
    app.jinja_env.tests["startswith"] = lambda value, prefix: str(value).startswith(prefix)
    app.jinja_env.globals.update(STEPS=steps.ANSWER_STEPS + [steps.BY_NAME["apply"]], wizard=wizard)

    # --- access --------------------------------------------------------------------------------------
    def unlocked() -> bool:
        # the session that set the box up keeps access afterwards; the code itself unlocks nothing new
        gen = wizard.code.generation()
        if gen is not None and session.get("unlocked") == gen:
            return True
        return wizard.mode() == "done" and bool(session.get("admin"))

    def guarded(view):
        @wraps(view)
        def inner(*a, **kw):
            if not unlocked():
                if request.path.startswith("/api/"):
                    return api_error(401, "Unlock the wizard with the setup code shown on the box's console first."
                                     if wizard.mode() == "setup" else "Log in as admin first.")
                return redirect(url_for("index"))
            return view(*a, **kw)
        return public(inner)

    def try_unlock(code: str):
        """None on success, else (status, message, retry_after)."""
        if wizard.mode() != "setup":
            return 409, "This box is already set up; log in with the admin password instead.", None
        try:
            session["unlocked"] = wizard.code.verify(code)
            session.permanent = True
            return None
        except LockedOut as exc:
            app.extensions["egret.firstboot.unlock_failures"].labels("locked_out").inc()
            return 429, str(exc), int(exc.retry_after + 0.999)
        except ValueError as exc:
            app.extensions["egret.firstboot.unlock_failures"].labels("wrong_code").inc()
            return 401, str(exc), None

    def csrf_ok() -> bool:
        return request.form.get("csrf") == session.get("csrf")

    @app.before_request
    def _csrf_token():
        session.setdefault("csrf", secrets.token_urlsafe(16))
        if request.method == "POST" and not request.path.startswith("/api/") and not csrf_ok():
            abort(400, "The form expired; reload the page and try again.")

    # --- HTML pages ----------------------------------------------------------------------------------
    def page(template, status=200, **kw):
        return render_template(template, mode=wizard.mode(), **kw), status

    @app.get("/")
    @public
    def index():
        if wizard.mode() == "done":
            return redirect(url_for("done") if unlocked() else url_for("login"))
        if request.args.get("code"):
            failure = try_unlock(request.args["code"])
            if failure:
                return page("unlock.html", failure[0], error=failure[1])
        if not unlocked():
            return page("unlock.html")
        if wizard.runner.progress():
            return redirect(url_for("progress"))
        return redirect(url_for("step", name=wizard.next_step()))

    @app.post("/unlock")
    @public
    def unlock():
        failure = try_unlock(request.form.get("code", ""))
        if failure:
            resp = page("unlock.html", failure[0], error=failure[1])
            if failure[2]:
                resp = (resp[0], resp[1], {"Retry-After": str(failure[2])})
            return resp
        return redirect(url_for("index"))

    @app.get("/step/<name>")
    @guarded
    def step(name):
        if wizard.mode() != "setup":
            return redirect(url_for("index"))
        if name not in steps.BY_NAME:
            abort(404)
        return render_step(name)

    def render_step(name, errors=None, form=None, status=200, **extra):
        answers = wizard.state.answers().get(name) or {}
        info = wizard.discover(name)
        if name == "network" and not answers and info.get("trial"):
            answers = info["trial"]["plan"]  # what was just tried (or rolled back), to adjust and retry
        if name == "admin":
            info["pending_totp"] = wizard.state.load().get("pending_totp")
            if info["pending_totp"]:
                info["totp_qr"] = steps.BY_NAME["admin"].totp_qr_svg(info["pending_totp"])
        if name == "apply":
            info.update(summary=wizard.summary(), needs_password=wizard.needs_password(),
                        missing=[s.NAME for s in steps.ANSWER_STEPS if s.NAME not in wizard.state.answers()],
                        progress=wizard.runner.progress())
        return page(f"step_{name}.html", status, step=steps.BY_NAME[name], answers=answers, info=info,
                    errors=errors or {}, form=form or {}, **extra)

    @app.post("/step/<name>")
    @guarded
    def submit(name):
        if name not in steps.BY_NAME:
            abort(404)
        if wizard.mode() != "setup":
            return redirect(url_for("index"))
        module = steps.BY_NAME[name]
        if name == "admin" and request.form.get("action") == "totp":
            wizard.start_totp()
            return render_step("admin", form={**request.form, "totp": "on"}, focus="totp_code")
        try:
            answers = module.from_form(request.form)
            wizard.submit(name, answers)
        except StepError as exc:
            return render_step(name, errors={exc.field: exc.message}, form=request.form, status=400, extra=exc.extra)
        if name == "network":
            return redirect(url_for("step", name="network"))
        if name == "apply":
            return redirect(url_for("progress"))
        return redirect(url_for("step", name=wizard.next_step()))

    @app.get("/network/confirm")
    @public
    def network_confirm_page():
        return page("confirm.html", token=request.args.get("token", ""), trial=wizard.trial.current())

    @app.post("/network/confirm")
    @public
    def network_confirm():
        try:
            wizard.trial.confirm(request.form.get("token", ""), request.host.rsplit(":", 1)[0])
        except StepError as exc:
            return page("confirm.html", 400, token=request.form.get("token", ""), error=exc.message,
                        trial=wizard.trial.current())
        # the token was only ever shown to an unlocked session: it carries the unlock to the new address
        session["unlocked"] = wizard.code.generation()
        return redirect(url_for("step", name=wizard.next_step()))

    @app.get("/progress")
    @guarded
    def progress():
        run = wizard.runner.progress()
        if not run:
            return redirect(url_for("index"))
        return page("progress.html", run=run, needs_password=wizard.needs_password())

    @app.get("/done")
    @guarded
    def done():
        if wizard.mode() != "done":
            return redirect(url_for("index"))
        return page("done.html", endpoints=wizard.endpoints(), health=wizard.ctx.services.health(wizard.ctx.settings),
                    settings=wizard.ctx.settings, answers=wizard.state.answers(), tls=wizard.ctx.settings.tls_enabled)

    login_guard = {"failures": 0, "locked_until": 0.0}

    @app.route("/login", methods=["GET", "POST"])
    @public
    def login():
        if wizard.mode() != "done":
            return redirect(url_for("index"))
        if request.method == "POST":
            now = wizard.ctx.now()
            if now < login_guard["locked_until"]:
                wait = int(login_guard["locked_until"] - now + 0.999)
                return (*page("login.html", 429, error=f"Too many wrong passwords; try again in {wait} s."),
                        {"Retry-After": str(wait)})
            if wizard.ctx.identity.check_password(wizard.ctx.settings, request.form.get("password", "")):
                login_guard.update(failures=0, locked_until=0.0)
                session["admin"] = True
                return redirect(url_for("done"))
            # the same exponential lockout as the setup code (identity keeps its own limits too)
            login_guard["failures"] += 1
            login_guard["locked_until"] = now + lockout_seconds(login_guard["failures"])
            return page("login.html", 401, error="Wrong admin password.")
        return page("login.html")

    @app.post("/logout")
    @public
    def logout():
        session.clear()
        return redirect(url_for("index"))

    @app.get("/clouds.yaml")
    @guarded
    def clouds_yaml():
        path = wizard.ctx.settings.state_dir / "clouds.yaml"
        if not path.exists():
            abort(404)
        text = path.read_text()
        if wizard.ctx.settings.tls_enabled:
            # the box's cacert path means nothing on the operator's machine: point at the CA file downloaded
            # next to it (/egret-ca.crt), relative to where the openstack CLI runs
            doc = yaml.safe_load(text)
            doc["clouds"]["egret"]["cacert"] = "egret-ca.crt"
            text = yaml.safe_dump(doc, sort_keys=False)
        return Response(text, mimetype="application/yaml",
                        headers={"Content-Disposition": "attachment; filename=clouds.yaml",
                                 "Cache-Control": "no-store"})

    @app.get("/egret-ca.crt")
    @guarded
    def ca_certificate():
        path = api_tls_files(wizard.ctx.settings)["ca"]
        if not wizard.ctx.settings.tls_enabled or not path.exists():
            abort(404)
        return Response(path.read_text(), mimetype="application/x-pem-file",
                        headers={"Content-Disposition": "attachment; filename=egret-ca.crt"})

    # --- JSON API ------------------------------------------------------------------------------------
    @app.post("/api/unlock")
    @public
    def api_unlock():
        body = request_json()
        body = body if isinstance(body, dict) else {}
        failure = try_unlock(str(body.get("code", "")))
        if failure:
            resp = api_error(failure[0], failure[1], "code")
            if failure[2]:
                resp[0].headers["Retry-After"] = str(failure[2])
            return resp
        return jsonify(unlocked=True)

    @app.get("/api/state")
    @guarded
    def api_state():
        data = wizard.state.load()
        return jsonify(mode=wizard.mode(), completed=data["completed"], next_step=wizard.next_step(),
                       summary=wizard.summary(), apply=data.get("apply"),
                       steps=[{"name": s.NAME, "title": s.TITLE} for s in steps.STEPS])

    @app.get("/api/steps/<name>")
    @guarded
    def api_step(name):
        if name not in steps.BY_NAME:
            return api_error(404, f"There is no step named {name!r}.", "step")
        module = steps.BY_NAME[name]
        return jsonify(name=name, title=module.TITLE, schema=module.SCHEMA, discovered=wizard.discover(name),
                       answers={k: v for k, v in (wizard.state.answers().get(name) or {}).items()
                                if k != "totp_secret"})

    @app.post("/api/steps/<name>")
    @guarded
    def api_submit(name):
        body = request_json()
        if not isinstance(body, dict):
            return api_error(400, "The request body must be a JSON object of the step's answers.", "/")
        try:
            return jsonify(wizard.submit(name, body))
        except StepError as exc:
            return api_error(400, exc.message, exc.field, **exc.extra)

    @app.post("/api/steps/admin/totp")
    @guarded
    def api_totp():
        try:
            return jsonify(wizard.start_totp())
        except StepError as exc:
            return api_error(409, exc.message, exc.field)

    @app.get("/api/network")
    @guarded
    def api_network():
        return jsonify(trial=_public_trial(wizard.trial.current()), now=wizard.ctx.now())

    @app.post("/api/network/confirm")
    @public
    def api_network_confirm():
        body = request_json()
        body = body if isinstance(body, dict) else {}
        try:
            wizard.trial.confirm(str(body.get("token", "")), request.host.rsplit(":", 1)[0])
        except StepError as exc:
            return api_error(400, exc.message, exc.field)
        session["unlocked"] = wizard.code.generation()
        return jsonify(confirmed=True)

    @app.get("/api/apply")
    @guarded
    def api_apply():
        run = wizard.runner.progress()
        return jsonify(apply=_strip_undo(run), mode=wizard.mode())

    @app.get("/api/health")
    @guarded
    def api_health():
        return jsonify(services=wizard.ctx.services.health(wizard.ctx.settings))

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if request.path.startswith("/api/"):
            return api_error(exc.code or 500, exc.description or exc.name)
        return page("error.html", exc.code or 500, code=exc.code, message=exc.description or exc.name)

    return app


def _domain_metrics(app, wizard) -> None:
    registry = app.extensions["egret.metrics"].registry
    Gauge("egret_firstboot_setup_done", "1 once the box is set up", registry=registry).set_function(
        lambda: 1 if wizard.mode() == "done" else 0)
    Gauge("egret_firstboot_steps_completed", "wizard steps answered", registry=registry).set_function(
        lambda: len(wizard.state.load()["completed"]))
    app.extensions["egret.firstboot.unlock_failures"] = Counter(
        "egret_firstboot_unlock_failures", "wrong setup codes and lockouts", ["reason"], registry=registry)


def _strip_undo(run):
    if not run:
        return run
    return {**run, "tasks": [{k: v for k, v in t.items() if k != "undo"} for t in run["tasks"]]}
