"""Egret network service: the Neutron v2.0 API over Linux bridges, VXLAN, netns routers, nftables and dnsmasq."""
from __future__ import annotations

import atexit
import logging
import threading
import time

from prometheus_client import Gauge

from appliance import config, routes, siterole
from appliance.app import make_app
from appliance.db import migrate_service, open_service_database
from services.network import models
from services.network.api import ROUTES
from services.network.conf import section
from services.network.drivers import load_driver
from services.network.manager import Manager, connected
from services.network.policies import POLICIES

log = logging.getLogger("egret.network")


def migrate(settings=None) -> list[str]:
    return migrate_service(settings or config.load(), "network", models.database)


def _reconcile_loop(app, manager, interval: float, tick: float, stop: threading.Event) -> None:
    """Verify the whole data plane against the DB now and every `interval` s. Every `tick` s, check the taps
    (one netlink dump): a tap that appeared or went away updates its port's status, and its QoS and bridge
    membership are applied at once (tc needs the device, which the hypervisor creates after binding)."""
    next_full = 0.0
    while True:
        try:
            if time.monotonic() >= next_full:
                manager.sync(verify=True)
                next_full = time.monotonic() + interval
                manager.refresh_port_status()
            elif manager.refresh_port_status():
                manager.sync(verify=False)
        except Exception:
            log.exception("reconcile pass failed")
        if stop.wait(tick):
            return


def create_app(settings=None, *, driver=None):
    settings = settings or config.load()
    open_service_database(settings, "network", models.database)
    app = make_app("network", settings, error_format="neutron", policies=POLICIES, database=models.database)
    driver = driver or load_driver(settings)
    manager = Manager(settings, driver, models.database)
    app.extensions["egret.manager"] = manager
    app.extensions["egret.driver"] = driver
    routes.register(app, routes.RouteTable("network", ROUTES))
    app.url_map.strict_slashes = False

    registry = app.extensions["egret.metrics"].registry
    counts = Gauge("egret_network_resources", "Network resources by kind", ["kind"], registry=registry)
    for kind, model in (("networks", models.Network), ("subnets", models.Subnet), ("ports", models.Port),
                        ("routers", models.Router), ("floatingips", models.FloatingIP)):
        counts.labels(kind).set_function(lambda m=model: _count(m))
    leases = Gauge("egret_network_dhcp_leases", "Active DHCP leases over all dnsmasq instances", registry=registry)
    leases.set_function(lambda: _leases(settings))

    conf = section(settings)
    stop = threading.Event()
    app.extensions["egret.stop"] = stop
    member = siterole.is_member(settings)
    if member:
        # its desired state (this box's own, empty) would tear down the links the node's agent made for the site
        log.warning("this box is a member of a site: its own network service leaves the node's data plane alone")
    if conf.get("cleanup_on_exit", True) and not settings.fake_drivers and not member:
        # a stopped `egret up` leaves no links, namespaces or daemons behind; an appliance that must keep guests
        # connected across service restarts sets cleanup_on_exit = false (the reconcile adopts what exists)
        def _teardown():
            stop.set()
            manager.teardown()
        atexit.register(_teardown)
    interval = float(conf.get("reconcile_interval", 0 if settings.fake_drivers else 30))
    tick = float(conf.get("port_poll_interval", min(1.0, interval or 1.0)))
    if interval > 0 and not member:
        thread = threading.Thread(target=_reconcile_loop, args=(app, manager, interval, tick, stop),
                                  name="network-reconcile", daemon=True)
        thread.start()
    return app


def _count(model) -> int:
    try:
        with connected(model._meta.database):
            return model.select().count()
    except Exception:
        return -1


def _leases(settings) -> int:
    """Lines in every dnsmasq lease file of this state dir (one per active lease)."""
    base = settings.state_dir / "network"
    total = 0
    for path in base.glob("dhcp-*/*/leases"):
        try:
            total += sum(1 for line in path.read_text().splitlines() if line.strip())
        except OSError:
            pass
    return total
