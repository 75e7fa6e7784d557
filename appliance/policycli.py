"""`egret policy list`: who may call what, for every service: method, path, rule, the rule's text, attribute rules."""
from __future__ import annotations

import importlib
import inspect
import json
import tempfile
from pathlib import Path

from flask import Flask

from appliance import config, routes
from appliance.manifest import load_manifest
from appliance.tokens import KeyRepository

UNDECLARED = "(undeclared)"
# the wizard's API is guarded by the one-time setup code and its session, not by policy rules
NOT_POLICED = {"firstboot"}
FRAMEWORK_RULES = {("GET", "/static/<path:filename>")}


def sandbox_settings(settings: config.Settings, state_dir: Path) -> config.Settings:
    """The operator's settings (their policy overrides above all) over a throwaway state dir, SQLite, fake
    drivers and no background loops: building an app to read its table must touch nothing real."""
    service = {name: dict(values) for name, values in settings.service.items()}
    service.setdefault("compute", {})["background"] = False
    sandbox = config.replace(settings, state_dir=state_dir, database_url="", fake_drivers=True, tls={},
                             enabled_services=[], service=service, log_level="WARNING")
    KeyRepository(sandbox.key_repository, sandbox.fernet_max_active_keys).setup()
    return sandbox


def flask_apps(served) -> list[Flask]:
    """The Flask apps behind what a unit's factory returns (an app, or a dispatcher over several ports)."""
    if isinstance(served, Flask):
        return [served]
    found = []
    for value in vars(served).values():
        for candidate in value.values() if isinstance(value, dict) else [value]:
            if isinstance(candidate, Flask) and candidate not in found:
                found.append(candidate)
    return found


def build_apps(unit, settings: config.Settings) -> list[Flask]:
    module_name, _, call = unit.app.partition(":")
    factory = getattr(importlib.import_module(module_name), call.split("(")[0])
    kwargs = {"background": False} if "background" in inspect.signature(factory).parameters else {}
    return flask_apps(factory(settings, **kwargs))


def undeclared_rows(app: Flask) -> list[dict]:
    """Routes the app serves that no table declares: the shared factory's public probes, or not declared yet."""
    declared = {r.key for r in routes.declared(app)}
    rows = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) in declared or (method, rule.rule) in FRAMEWORK_RULES:
                continue
            public = getattr(app.view_functions.get(rule.endpoint), "_egret_public", False)
            name = routes.PUBLIC if public else UNDECLARED
            rows.append({"method": method, "path": rule.rule, "rule": name,
                         "check": name.lstrip("@") if public else "", "fields": {}, "checks": {}})
    return rows


def policy_rows(settings: config.Settings, service: str | None = None) -> list[dict]:
    """Every route of every policed unit (or of one service), each with the texts its rules have here."""
    units = [u for u in load_manifest().values() if u.service not in NOT_POLICED]
    if service is not None:
        units = [u for u in units if u.service == service]
        if not units:
            raise ValueError(f"no service {service!r}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="egret-policy-") as tmp:
        for unit in units:
            sandbox = sandbox_settings(settings, Path(tmp) / unit.name)
            for app in build_apps(unit, sandbox):
                texts = app.extensions["egret.policy"].texts
                found = routes.policy_table(routes.declared(app), texts) + undeclared_rows(app)
                api = app.name.removeprefix("egret.")  # storage serves three APIs: storage-image, -volume, -s3
                rows += [{"service": unit.service, "api": api, **row} for row in found]
    return sorted(rows, key=lambda r: (r["api"], r["path"], r["method"]))


def format_rows(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        fields = "; ".join(f"{k}: {v}" for k, v in r["fields"].items())
        checks = "; ".join(f"{k}: {v}" for k, v in r["checks"].items())
        lines.append(f"{r['api']:16s} {r['method']:6s} {r['path']:55s} {r['rule']:40s} {r['check']}"
                     + (f"  [attributes: {fields}]" if fields else "")
                     + (f"  [decided inside: {checks}]" if checks else ""))
    header = f"{'api':16s} {'method':6s} {'path':55s} {'rule':40s} rule text"
    return "\n".join([header, *lines])


def cmd_policy_list(args, settings) -> int:
    try:
        rows = policy_rows(settings, args.service)
    except ValueError as exc:
        print(f"egret policy list: {exc}")
        return 2
    print(json.dumps(rows, indent=1) if args.json else format_rows(rows))
    return 0
