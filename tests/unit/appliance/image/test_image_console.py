"""The boot console banner is the wizard's: its URL and a one-time setup code; the image's console code shows it."""
from appliance.image import console
from firstboot.console import banner


def test_banner_names_the_wizard_and_a_setup_code(settings):
    first = banner(settings)
    assert f":{settings.port('firstboot')}/" in first
    second = banner(settings)
    # each banner issues a fresh code and the previous one stops working
    assert first != second


def test_console_shows_the_banner_it_is_given(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(console, "ISSUE", tmp_path / "issue.d" / "50-egret.issue")
    monkeypatch.setattr(console, "CONSOLES", (str(tmp_path / "kmsg"),))
    console.show("Egret first-boot setup\ncode 1234")
    assert (tmp_path / "issue.d" / "50-egret.issue").read_text() == "Egret first-boot setup\ncode 1234\n\n"
    assert (tmp_path / "kmsg").read_text() == "EGRET-CONSOLE Egret first-boot setup\nEGRET-CONSOLE code 1234\n"
    assert "code 1234" in capsys.readouterr().out
