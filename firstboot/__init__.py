"""The first-boot wizard: a Flask app on the shared factory (create_app), the console banner, headless mode."""
from __future__ import annotations

import sys

from appliance import config
from appliance.pki import ensure_wizard_tls


def create_app(settings=None, *, system=None, identity=None, services=None, clock=None, membership=None):
    # the app's modules are imported when the app is made, not with the package: the console unit and `egret`
    # import firstboot.console and firstboot.headless without the wizard's web app
    from firstboot.console import banner
    from firstboot.web import build_app
    from firstboot.wizard import Wizard
    settings = settings or config.load()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    wizard = Wizard(settings, system=system, identity=identity, services=services, clock=clock,
                    membership=membership)
    wizard.recover()
    if wizard.mode() == "setup" and not wizard.code.exists():
        # the unit's output goes to the box's journal and console; the image's getty banner re-issues a code
        print(banner(settings), file=sys.stderr, flush=True)
    return build_app(settings, wizard)


def prepare(settings) -> None:
    """[tls] enabled: the wizard's self-signed certificate, made before gunicorn binds (its fingerprint is on the
    console next to the setup code, so the operator can check it in the browser)."""
    ensure_wizard_tls(settings)
