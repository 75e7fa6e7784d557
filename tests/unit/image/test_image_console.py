"""The boot console banner is the wizard's: its URL and a one-time setup code."""
from appliance.image import console


def test_banner_names_the_wizard_and_a_setup_code(settings):
    first = console.banner(settings)
    assert f":{settings.port('firstboot')}/" in first
    second = console.banner(settings)
    # each banner issues a fresh code and the previous one stops working
    assert first != second
