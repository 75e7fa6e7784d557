"""The console banner and the placeholder wizard (used when firstboot/ is absent)."""
from appliance.image import console, placeholder


def test_placeholder_banner_keeps_one_code(settings):
    first = console.placeholder_banner(settings)
    second = console.placeholder_banner(settings)
    assert "setup code:" in first and first == second
    code = (settings.state_dir / "firstboot" / "setup-code").read_text().strip()
    assert code in first and len(code) == 14
    assert f":{settings.port('firstboot')}/" in first


def test_banner_prefers_firstboot(settings, monkeypatch):
    import types, sys
    fake = types.ModuleType("firstboot.console")
    fake.banner = lambda s: "FROM-FIRSTBOOT"
    monkeypatch.setitem(sys.modules, "firstboot.console", fake)
    assert console.banner(settings) == "FROM-FIRSTBOOT"


def test_placeholder_wizard_checks_the_code(settings):
    app = placeholder.create_app(settings)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"setup code" in page.data.lower()
    code = (settings.state_dir / "firstboot" / "setup-code").read_text().strip()
    assert client.post("/", data={"code": "nope"}).status_code == 403
    assert client.post("/", data={"code": code.lower()}).status_code == 200
    assert client.get("/healthz").status_code == 200
