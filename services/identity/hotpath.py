"""Hand-written SQL for the token hot path (validate, issue): peewee's query building cost more than the queries."""
from __future__ import annotations

from types import SimpleNamespace

from services.identity.models import database

_USER = ('SELECT u.id, u.name, u.domain_id, u.enabled, u.default_project_id, d.name, d.enabled '
         'FROM "user" u LEFT JOIN "domain" d ON d.id = u.domain_id WHERE u.id = ?')
_PROJECT = ('SELECT p.id, p.name, p.domain_id, p.enabled, d.name, d.enabled '
            'FROM "project" p LEFT JOIN "domain" d ON d.id = p.domain_id WHERE p.id = ?')
_DIRECT_ROLES = ('SELECT DISTINCT role_id FROM "assignment" WHERE target_type = ? AND target_id = ? AND '
                 '((actor_type = \'user\' AND actor_id = ?) OR (actor_type = \'group\' AND actor_id IN '
                 '(SELECT group_id FROM "membership" WHERE user_id = ?)))')
_IMPLIED = 'SELECT prior_role_id, implied_role_id FROM "implied_role"'
_ROLES = 'SELECT id, name FROM "role"'


def _rows(sql: str, params=()):
    if database.param != "?":
        sql = sql.replace("?", database.param)
    return database.execute_sql(sql, params).fetchall()


def _domain(name, enabled, domain_id):
    return None if name is None else SimpleNamespace(id=domain_id, name=name, enabled=bool(enabled))


def user(user_id: str):
    """The user with its domain as `_domain` (None if unknown); attribute names as on the model."""
    rows = _rows(_USER, (user_id,))
    if not rows:
        return None
    uid, name, domain_id, enabled, default_project_id, dname, denabled = rows[0]
    return SimpleNamespace(id=uid, name=name, domain_id=domain_id, enabled=bool(enabled),
                           default_project_id=default_project_id, _domain=_domain(dname, denabled, domain_id))


def project(project_id: str):
    rows = _rows(_PROJECT, (project_id,))
    if not rows:
        return None
    pid, name, domain_id, enabled, dname, denabled = rows[0]
    return SimpleNamespace(id=pid, name=name, domain_id=domain_id, enabled=bool(enabled),
                           _domain=_domain(dname, denabled, domain_id))


def effective_roles(user_id: str, target_type: str, target_id: str) -> dict[str, str]:
    """{role id: name} the user holds on the target, directly or through groups, implied roles included."""
    direct = [r[0] for r in _rows(_DIRECT_ROLES, (target_type, target_id, user_id, user_id))]
    if not direct:
        return {}
    rules: dict[str, list[str]] = {}
    for prior, implied in _rows(_IMPLIED):
        rules.setdefault(prior, []).append(implied)
    result, todo = set(direct), list(direct)
    while todo:
        for implied in rules.get(todo.pop(), ()):
            if implied not in result:
                result.add(implied)
                todo.append(implied)
    return {rid: name for rid, name in _rows(_ROLES) if rid in result}
