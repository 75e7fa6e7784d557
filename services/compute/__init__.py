"""Compute service: Nova v2.1 API over libvirt, plus the metadata service (one process, two ports)."""
from __future__ import annotations

import fcntl
import logging
import threading

from flask import jsonify, request
from prometheus_client import Gauge

from appliance import config, routes, siterole
from appliance.app import make_app
from appliance.db import migrate_service, open_service_database
from services.compute import capacity, microversion, models, scheduler, servers, site
from services.compute.api import TABLES
from services.compute.drivers import load_driver
from services.compute.external import http_clients
from services.compute.manager import ComputeManager
from services.compute.metadata import build_metadata_app
from services.compute.policies import POLICIES

log = logging.getLogger(__name__)


def migrate(settings) -> list[str]:
    return migrate_service(settings, "compute", models.database)


def build_api(settings, driver, clients, synchronous=False):
    """The Nova API app (no background threads; create_app adds them)."""
    app = make_app("compute", settings, error_format="nova", policies=POLICIES, database=models.database)
    app.url_map.strict_slashes = False
    manager = ComputeManager(settings, driver, clients, synchronous=synchronous)
    app.extensions["egret.manager"] = manager
    routes.register(app, *TABLES)
    if driver.cached_caps() is not None:   # else the background start-up registers it once libvirt answers
        _register_node(manager)

    @app.before_request
    def _microversion():
        if request.path.startswith("/v2.1/"):
            microversion.negotiate()

    app.after_request(microversion.add_headers)
    _health_info(app, driver)
    _register_metrics(app, manager)
    return app


def _health_info(app, driver) -> None:
    """/healthz also says which domain type the driver chose (egret status prints it)."""
    original = app.view_functions["_healthz"]

    def healthz():
        resp, status = original()
        body = resp.get_json()
        caps = driver.cached_caps()
        body["info"] = f"domain type {caps.domain_type} ({caps.domain_type_reason})" if caps else "detecting"
        return jsonify(body), status
    healthz._egret_public = True
    app.view_functions["_healthz"] = healthz


def create_app(settings=None, *, driver=None, clients=None):
    settings = settings or config.load()
    open_service_database(settings, "compute", models.database).close()
    driver = driver or load_driver(settings)
    clients = clients or http_clients(settings)
    api = build_api(settings, driver, clients)
    manager = api.extensions["egret.manager"]
    metadata = build_metadata_app(settings, manager)
    section = settings.section("compute")
    if siterole.is_member(settings):
        # its reconcile would take the site's guests on this node (named with the same prefix, in no row of this
        # box's own database) for ghosts and destroy them: the node's agent and the site's control plane own them
        log.warning("this box is a member of a site: its own compute service touches none of the node's guests")
        return PortDispatcher(api, metadata, settings.port("metadata"))
    if section.get("background", True):
        _start_background(settings, manager, float(section.get("sync_interval", 10)))
    _follow_site(api, manager.node, settings)
    return PortDispatcher(api, metadata, settings.port("metadata"))


def _follow_site(app, node, settings) -> None:
    """Every API process reaches the site's members through its own registry (a worker that does not hold the
    background lock included): the members file is read at most once a heartbeat interval, before a request."""
    @app.before_request
    def _site_nodes():
        try:
            site.follow(node, settings)
        except Exception:   # a request is never refused for it; the next interval tries again
            log.exception("following the site's members failed")


class PortDispatcher:
    """Serve the metadata API on its own port from the same process (gunicorn binds both)."""

    def __init__(self, api, metadata, metadata_port: int):
        self.api, self.metadata, self.metadata_port = api, metadata, str(metadata_port)

    def __call__(self, environ, start_response):
        if environ.get("SERVER_PORT") == self.metadata_port:
            return self.metadata(environ, start_response)
        return self.api(environ, start_response)


def _start_background(settings, manager, interval: float) -> None:
    """One process runs reconcile + power sync, and on a site's control plane the node registry's sync with the
    membership (services/compute/site.py): the holder of a lock file (gunicorn may fork several workers)."""
    path = settings.state_dir / "compute" / "background.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return
    manager._background_lock = fh

    def run():
        try:
            manager.driver.host_caps()
            _register_node(manager)
            report = manager.reconcile()
            log.info("compute reconcile: %s", report)
        except Exception:
            log.exception("compute reconcile failed")
        manager.start_background(interval)
        capacity.start_local(manager.node)
        site.start(manager.node, settings)
    threading.Thread(target=run, name="compute-reconcile", daemon=True).start()


def _register_node(manager) -> None:
    """This box's compute node row, refreshed from its driver at every start (capacity, zone, ratios)."""
    with models.database.connection_context():
        node = scheduler.register_local(manager.node)
    log.info("compute node %s registered in zone %s", node.host, node.availability_zone)


def _register_metrics(app, manager) -> None:
    registry = app.extensions["egret.metrics"].registry
    by_state = Gauge("egret_compute_servers", "Servers by vm_state", ["vm_state"], registry=registry)
    vcpus = Gauge("egret_compute_vcpus_allocated", "vCPUs allocated to servers", registry=registry)
    ram = Gauge("egret_compute_ram_mb_allocated", "RAM (MiB) allocated to servers", registry=registry)

    def collect():
        with models.database.connection_context():
            rows = servers.live()
        counts: dict = {}
        for r in rows:
            counts[r.vm_state] = counts.get(r.vm_state, 0) + 1
        for state in ("active", "building", "stopped", "paused", "suspended", "error", "resized"):
            by_state.labels(state).set(counts.get(state, 0))
        vcpus.set(sum(int(r.flavor.get("vcpus", 0)) for r in rows))
        ram.set(sum(int(r.flavor.get("ram", 0)) for r in rows))

    @app.before_request
    def _refresh_metrics():
        if request.path == "/metrics":
            collect()
