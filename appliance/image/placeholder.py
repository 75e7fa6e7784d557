"""Stand-in first-boot wizard for images built before firstboot/ lands: shows the page, checks the setup code."""
from __future__ import annotations

import hmac

from flask import request

from appliance import config
from appliance.app import make_app, public
from appliance.image.console import placeholder_banner

PAGE = """<!doctype html><html><head><title>Egret setup</title></head><body>
<h1>Egret setup wizard</h1>
<p>Enter the one-time setup code shown on the console of this box.</p>
<form method="post"><label>Setup code <input name="code" autocomplete="off"></label>
<button type="submit">Continue</button></form>
<p><small>Placeholder wizard of the image build; the full wizard comes from the firstboot package.</small></p>
</body></html>
"""

# the unit appended to the image's copy of services/manifest.toml when the manifest has no firstboot unit
MANIFEST_UNIT = """
[units.firstboot]
service = "firstboot"
description = "Egret first-boot wizard (image placeholder until firstboot/ is merged)"
app = "appliance.image.placeholder:create_app()"
ports = ["firstboot"]
user = "egret-firstboot"
capabilities = []
after = []
state_dir = "firstboot"
"""


def create_app(settings=None):
    settings = settings or config.load()
    app = make_app("firstboot", settings, error_format="keystone")
    placeholder_banner(settings)  # creates the code if the console unit has not yet
    code_file = settings.state_dir / "firstboot" / "setup-code"

    @app.route("/", methods=["GET", "POST"])
    @public
    def index():
        if request.method == "GET":
            return PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}
        given = (request.form.get("code") or "").strip().upper()
        if hmac.compare_digest(given, code_file.read_text().strip()):
            return "<p>Setup code accepted.</p>", 200, {"Content-Type": "text/html; charset=utf-8"}
        return "<p>Wrong setup code.</p>", 403, {"Content-Type": "text/html; charset=utf-8"}

    return app
