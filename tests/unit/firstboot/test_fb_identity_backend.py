"""The wizard bootstraps identity through `egret bootstrap` (never identity's code or files), asking sparingly."""
import subprocess

import pytest

from appliance.cluster import membership
from firstboot import backends


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_commands_and_remembered_answers(settings, monkeypatch):
    runs, answers = [], {"--check": 1}

    def egret_bootstrap(settings, *flags, password=None, timeout=300.0):
        runs.append((flags, password))
        return subprocess.CompletedProcess(["egret"], answers.get(flags[0], 0), "", "")

    monkeypatch.setattr(backends, "egret_bootstrap", egret_bootstrap)
    clock = Clock()
    identity = backends.RealIdentity(clock=clock)
    assert identity.is_bootstrapped(settings) is False
    assert identity.is_bootstrapped(settings) is False
    assert len(runs) == 1                                  # a "not yet" is remembered a while ...
    clock.now += identity.NO_FOR
    assert identity.is_bootstrapped(settings) is False
    assert len(runs) == 2                                  # ... then asked again
    identity.bootstrap(settings, "Wizard-pw-123")
    assert runs[-1] == (("--no-clouds-yaml",), "Wizard-pw-123")
    answers["--check"] = 0
    assert identity.is_bootstrapped(settings) is True
    checks = len(runs)
    clock.now += 10 * identity.NO_FOR
    assert identity.is_bootstrapped(settings) is True and len(runs) == checks   # a yes holds
    identity.undo_bootstrap(settings)
    assert runs[-1] == (("--undo",), None)
    answers["--check"] = 1
    assert identity.is_bootstrapped(settings) is False


def test_a_failing_command_says_why(settings, monkeypatch):
    monkeypatch.setattr(backends, "egret_bootstrap", lambda settings, *flags, **kw: subprocess.CompletedProcess(
        ["egret"], 2, "", "egret: setting 'x': cannot use"))
    identity = backends.RealIdentity()
    with pytest.raises(RuntimeError, match="egret bootstrap failed: egret: setting 'x'"):
        identity.bootstrap(settings, "pw-12345678")


def test_a_members_admin_login_is_checked_by_the_sites_identity(settings, monkeypatch):
    """A member runs no identity of its own: the wizard's admin login asks the site's (the founder's admin)."""
    asked = []

    class Answer:
        status_code = 201

    def post(url, json, timeout, verify):
        asked.append((url, verify, json["auth"]["identity"]["password"]["user"]["name"]))
        return Answer()
    monkeypatch.setattr(backends.requests, "post", post)
    identity = backends.RealIdentity()
    assert identity.check_password(settings, "pw")
    assert asked[-1][0] == settings.url("identity", "/v3/auth/tokens")
    member_dir = settings.state_dir / "cluster" / "member"
    member_dir.mkdir(parents=True)
    (member_dir / "api-ca.crt").write_text("site API CA")
    membership.write_json(membership.site_file(settings), {
        "site": "lab", "role": "member", "node": "b", "seeds": ["10.0.0.1:8120"],
        "api": {"identity_url": "https://10.0.0.1:5000/v3"}})
    assert identity.check_password(settings, "pw")
    assert asked[-1] == ("https://10.0.0.1:5000/v3/auth/tokens", str(member_dir / "api-ca.crt"), "admin")
