"""The identity seam against the real identity package: bootstrap, undo (a failed apply), bootstrap again."""
import pytest

from appliance.testing.plugin import make_settings
from firstboot.backends import RealIdentity
from firstboot.fakes import FakeIdentity

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["fake", "real"])
def test_bootstrap_undo_and_again(tmp_path, kind):
    settings = make_settings(tmp_path / "state", enabled_services=["identity"])
    identity = RealIdentity() if kind == "real" else FakeIdentity()
    assert identity.is_bootstrapped(settings) is False
    identity.bootstrap(settings, "First-Password-1")
    assert identity.is_bootstrapped(settings) is True
    identity.bootstrap(settings, None)  # refresh only: keeps the admin
    assert identity.is_bootstrapped(settings) is True
    identity.undo_bootstrap(settings)
    if kind == "real":
        assert not (settings.state_dir / "identity.db").exists()
        assert not list((settings.state_dir / "secrets").glob("*-service-user.json"))
    assert identity.is_bootstrapped(settings) is False
    identity.bootstrap(settings, "Second-Password-2")
    assert identity.is_bootstrapped(settings) is True
