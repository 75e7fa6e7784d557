"""Policy matrix: per route, the status each persona (admin, member, reader, other project, no token) gets."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable

import requests

from appliance.routes import NON_POLICY, PUBLIC
from appliance.routes import declared as routes_of

PERSONAS = ("admin", "member", "reader", "other", "anon")
MEMBER_PROJECT, OTHER_PROJECT, ADMIN_PROJECT = "p-member", "p-other", "p-admin"
# Flask's own routes (static files) are not part of any API
FRAMEWORK_RULES = {("GET", "/static/<path:filename>")}
# the shared factory's public probes (appliance/app.py make_app), served by every service and declared by none
APP_PROBES = {("GET", "/healthz"), ("GET", "/metrics")}


@dataclasses.dataclass(frozen=True)
class Route:
    """One row: `method rule`, the expected status per persona, how to build its ids and its body."""
    method: str
    rule: str
    expect: dict[str, int]
    make: Callable[[Any], dict] | None = None  # world -> {path var: value, ...}, fresh for every cell
    body: Any = None  # a dict, or ids -> dict (or bytes)
    note: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.rule


def route(spec: str, statuses: str, make=None, body=None, note="") -> Route:
    """route("GET /v2.0/networks/<rid>", "200 200 200 404 401", make=..., body=...)."""
    method, rule = spec.split(" ", 1)
    codes = [int(c) for c in statuses.split()]
    if len(codes) != len(PERSONAS):
        raise ValueError(f"{spec}: {len(PERSONAS)} statuses expected, got {statuses!r}")
    return Route(method, rule, dict(zip(PERSONAS, codes)), make, body, note)


def persona_tokens(mint_token, users: dict[str, str] | None = None,
                   projects: dict[str, str] | None = None) -> dict[str, str | None]:
    """Real Fernet tokens for the personas; `users`/`projects` map a persona to real ids where they matter."""
    users, projects = users or {}, projects or {}
    spec = {"admin": (ADMIN_PROJECT, ["admin", "member", "reader"]),
            "member": (MEMBER_PROJECT, ["member", "reader"]),
            "reader": (MEMBER_PROJECT, ["reader"]),
            "other": (OTHER_PROJECT, ["member", "reader"])}
    tokens: dict[str, str | None] = {"anon": None}
    for name, (project, roles) in spec.items():
        tokens[name] = mint_token(user_id=users.get(name, f"u-{name}"), project_id=projects.get(name, project),
                                  roles=roles)
    return tokens


def app_routes(app, ignore=FRAMEWORK_RULES) -> set[tuple[str, str]]:
    """Every (method, rule) the app serves, HEAD/OPTIONS aside."""
    out = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (method, rule.rule) not in ignore:
                out.add((method, rule.rule))
    return out


def coverage_gaps(apps, routes: list[Route]) -> tuple[set, set]:
    """(routes served but not declared, rows declared but not served): both must be empty."""
    served = set().union(*(app_routes(a) for a in apps))
    declared = {r.key for r in routes}
    return served - declared, declared - served


def assert_in_matrix(apps, routes: list[Route]) -> None:
    """Every route the apps serve has a row in the matrix, and every row a route the apps serve."""
    missing, stale = coverage_gaps(apps, routes)
    assert not missing, f"routes without a policy row: {sorted(missing)}"
    assert not stale, f"rows for routes the app does not serve: {sorted(stale)}"


def undeclared(app) -> tuple[set, set]:
    """(routes served but not declared, routes declared but not served) of an app on appliance.routes."""
    served = app_routes(app, ignore=FRAMEWORK_RULES | APP_PROBES)
    declared = {r.key for r in routes_of(app)}
    return served - declared, declared - served


def unused_rules(declared, rules: dict[str, str], texts: dict[str, str] | None = None) -> set[str]:
    """The `rules` no declared route checks, directly or through a used rule's 'rule:<name>' reference.

    `texts` are the rule texts to follow references through (an Enforcer's, with the shared base rules)."""
    texts = texts if texts is not None else rules
    used = set().union(*(r.rules() for r in declared))
    pending = list(used)
    while pending:
        for name in re.findall(r"rule:([\w:]+)", texts.get(pending.pop(), "")):
            if name not in used:
                used.add(name)
                pending.append(name)
    return set(rules) - used


class RuleRecorder:
    """Records every policy rule the apps evaluate, so a test can tell which declared rules no route checks."""

    def __init__(self, apps):
        self.seen: set[str] = set()
        for app in apps:
            enforcer = app.extensions["egret.policy"]
            if getattr(enforcer, "_recorder", None) is None:
                enforcer._recorder = self
                enforcer.check = self._wrap(enforcer.check)

    def _wrap(self, check):
        def recording(rule, target, creds, _depth=0):
            self.seen.add(rule)
            return check(rule, target, creds, _depth)
        return recording

    def unchecked(self, declared) -> set[str]:
        return set(declared) - self.seen


def fill(rule: str, ids: dict) -> str:
    """'/v2.0/networks/<rid>' with ids {'rid': 'x'} -> '/v2.0/networks/x' (converters like <path:key> too)."""
    out, i = [], 0
    while (start := rule.find("<", i)) >= 0:
        end = rule.index(">", start)
        name = rule[start + 1:end].split(":")[-1]
        out.append(rule[i:start])
        out.append(str(ids[name]))
        i = end + 1
    out.append(rule[i:])
    return "".join(out)


@dataclasses.dataclass
class Cell:
    route: Route
    persona: str
    expected: int
    got: int
    detail: str = ""


def run(routes: list[Route], world, send: Callable[[str, str, str, Any], tuple[int, str]],
        personas=PERSONAS) -> list[Cell]:
    """Every cell: fresh ids from route.make(world), the path filled, the body built, the status compared.

    `send(persona, method, path, body)` returns (status, text of the response for the report)."""
    cells = []
    for r in routes:
        for persona in personas:
            ids = r.make(world) if r.make else {}
            body = r.body(ids) if callable(r.body) else r.body
            status, text = send(persona, r.method, fill(r.rule, ids), body)
            cells.append(Cell(r, persona, r.expect[persona], status, text[:200]))
    return cells


def mismatches(cells: list[Cell]) -> str:
    """A readable list of the cells that differ (empty string when all match)."""
    bad = [c for c in cells if c.got != c.expected]
    return "\n".join(f"{c.route.method} {c.route.rule} as {c.persona}: expected {c.expected}, got {c.got}"
                     f" ({c.detail})" for c in bad)


def render_markdown(routes: list[Route], title: str = "") -> str:
    """The matrix as a markdown table, one row per route, one column per persona."""
    lines = [f"### {title}", ""] if title else []
    lines.append("| method | route | " + " | ".join(PERSONAS) + " | note |")
    lines.append("|---|---|" + "---|" * (len(PERSONAS) + 1))
    for r in routes:
        lines.append(f"| {r.method} | `{r.rule}` | " + " | ".join(str(r.expect[p]) for p in PERSONAS) +
                     f" | {r.note} |")
    return "\n".join(lines) + "\n"


PERSONA_CREDS = {
    "admin": {"project_id": ADMIN_PROJECT, "roles": ["admin", "member", "reader"]},
    "member": {"project_id": MEMBER_PROJECT, "roles": ["member", "reader"]},
    "reader": {"project_id": MEMBER_PROJECT, "roles": ["reader"]},
    "other": {"project_id": OTHER_PROJECT, "roles": ["member", "reader"]},
}
_REFUSED = (403, 404)


def agrees_with_rules(matrix: list[Route], declared, enforcer, exceptions: dict | None = None) -> list[str]:
    """Where the hand-written matrix and the declared rules disagree (empty list: they agree).

    The declared rule is evaluated for each persona against the member's resource (routes that load one) or the
    persona's own project (lists and creates): a denial must show as 403/404 in the matrix, an allowance must
    not be a 403 (unless the row's note names the route's check that refuses it, e.g. an action only admins may
    take), and a route that needs a token is 401 without one. `exceptions` maps a (method, path) to the
    reason a row may differ (e.g. a rule that checks more than the project), so each exception is explained."""
    by_key = {r.key: r for r in declared}
    exceptions = exceptions or {}
    out = []
    for row in matrix:
        route = by_key.get(row.key)
        if route is None or row.key in exceptions:
            continue
        if route.rule != PUBLIC and row.expect["anon"] != 401:
            out.append(f"{row.method} {row.rule}: needs a token but the matrix says {row.expect['anon']} without one")
        if route.rule in NON_POLICY:
            continue
        for persona, creds in PERSONA_CREDS.items():
            project = MEMBER_PROJECT if route.load is not None else creds["project_id"]
            allowed = enforcer.check(route.rule, {"project_id": project}, {**creds, "scope": "project"})
            got = row.expect[persona]
            # a row whose note names one of the route's own checks is refused by that check inside the handler
            if allowed and got == 403 and row.note not in route.checks:
                out.append(f"{row.method} {row.rule} as {persona}: {route.rule} allows it, the matrix says 403")
            if not allowed and got not in _REFUSED:
                out.append(f"{row.method} {row.rule} as {persona}: {route.rule} denies it, the matrix says {got}")
    return out


class HttpResponse:
    """The parts of a Flask test response the matrices read, over a real HTTP response."""

    def __init__(self, resp: requests.Response):
        self.status_code = resp.status_code
        self._resp = resp

    def get_json(self, silent: bool = False):
        try:
            return self._resp.json()
        except ValueError:
            if silent:
                return None
            raise

    @property
    def json(self):
        return self.get_json(silent=True)

    def get_data(self, as_text: bool = False):
        return self._resp.text if as_text else self._resp.content


class HttpClient:
    """The Flask test client's open() over real HTTP, so a matrix and its World run against a running service."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def open(self, path: str, method: str = "GET", json: Any = None, data: Any = None,
             headers: dict | None = None) -> HttpResponse:
        resp = self.session.request(method, self.base_url + path, json=json, data=data, headers=headers or {},
                                    timeout=60)
        return HttpResponse(resp)


def late_bound(routes: list[Route]) -> list[Route]:
    """The rows with each `make` that is a World method (make=World.server) looked up on the world at run time, so
    a World subclass (the same matrix against a running service) has its own override called."""
    def by_name(name):
        return lambda world: getattr(world, name)()

    out = []
    for r in routes:
        # a method's qualified name ends Class.method (module functions and lambdas are left as they are)
        parts = getattr(r.make, "__qualname__", "").split(".")
        if len(parts) > 1 and not parts[-2].startswith("<") and not parts[-1].startswith("<"):
            r = dataclasses.replace(r, make=by_name(r.make.__name__))
        out.append(r)
    return out
