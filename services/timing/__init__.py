"""The timing service: PTP on this node (linuxptp's ptp4l and phc2sys), its profile through an admin API, metrics."""
from __future__ import annotations

import atexit

from appliance import config


def create_app(settings=None):
    from appliance import routes
    from appliance.app import make_app
    from services.timing import api
    from services.timing.manager import Manager
    from services.timing.metrics import PtpCollector
    from services.timing.policies import POLICIES

    settings = settings or config.load()
    app = make_app("timing", settings, error_format="keystone", policies=POLICIES)
    # one worker runs the daemons (settings.workers is 1 on the appliance, as for the network service's dnsmasq)
    manager = Manager(settings)
    app.extensions["egret.manager"] = manager
    routes.register(app, api.TABLE)
    app.extensions["egret.metrics"].registry.register(PtpCollector(manager.ptp))
    atexit.register(manager.close)
    return app
