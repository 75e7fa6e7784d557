"""The policy rule language and overrides."""
import pytest

from appliance.policy import BASE_RULES, Enforcer, PolicyError, credentials
from appliance.tokens import TokenData


@pytest.fixture
def enforcer():
    return Enforcer({**BASE_RULES,
                     "x:get": "rule:project_reader_or_admin",
                     "x:write": "rule:project_member_or_admin and not role:reader_only",
                     "x:system": "role:admin and system_scope:all",
                     "x:own": "user_id:%(target.user_id)s",
                     "x:open": "@", "x:closed": "!"})


def creds(roles, project="p1", **kw):
    return {"roles": roles, "project_id": project, **kw}


def test_reader_member_admin(enforcer):
    tgt = {"project_id": "p1"}
    assert enforcer.check("x:get", tgt, creds(["reader"]))
    assert not enforcer.check("x:write", tgt, creds(["reader"]))
    assert enforcer.check("x:write", tgt, creds(["member", "reader"]))
    assert not enforcer.check("x:write", {"project_id": "p2"}, creds(["member", "reader"]))
    assert enforcer.check("x:write", {"project_id": "p2"}, creds(["admin"]))
    assert not enforcer.check("x:write", tgt, creds(["member", "reader_only"]))


def test_target_lookup_and_literals(enforcer):
    assert enforcer.check("x:own", {"user_id": "u1"}, creds([], user_id="u1"))
    assert not enforcer.check("x:own", {"user_id": "u2"}, creds([], user_id="u1"))
    assert not enforcer.check("x:own", {}, creds([], user_id="u1"))      # missing target attribute fails closed
    assert enforcer.check("x:system", {}, creds(["admin"], system_scope="all"))
    assert not enforcer.check("x:system", {}, creds(["admin"]))
    assert enforcer.check("x:open", {}, creds([]))
    assert not enforcer.check("x:closed", {}, creds(["admin"]))


def test_overrides_replace_defaults():
    e = Enforcer({"x:get": "role:admin"}, {"x:get": "role:reader"})
    assert e.check("x:get", {}, creds(["reader"]))


@pytest.mark.parametrize("bad", ["role:admin or", "(role:admin", "role:admin)", "admin", "role:a and and role:b"])
def test_bad_rules_do_not_parse(bad):
    with pytest.raises(PolicyError):
        Enforcer({"r": bad})


def test_unknown_and_recursive_rules():
    e = Enforcer({"a": "rule:b", "b": "rule:a"})
    with pytest.raises(PolicyError):
        e.check("a", {}, creds([]))
    with pytest.raises(PolicyError):
        e.check("nope", {}, creds([]))


def test_domain_scoped_admin_is_not_a_cloud_admin():
    e = Enforcer(BASE_RULES)
    common = dict(user_id="u", methods=["password"], expires_at=0, issued_at=0, audit_ids=["a"], roles=["admin"])
    project_admin = credentials(TokenData(project_id="p1", **common))
    domain_admin = credentials(TokenData(domain_id="d1", **common))
    system_admin = credentials(TokenData(system="all", **common))
    assert e.check("admin_required", {}, project_admin)
    assert e.check("admin_required", {}, system_admin)
    assert not e.check("admin_required", {}, domain_admin)
