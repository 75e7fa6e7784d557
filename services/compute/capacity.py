"""Nodes' capacity read again while they run: huge pages reserved, a disk grown or CPUs isolated after a start."""
from __future__ import annotations

import logging
import threading

from services.compute import models
from services.compute.scheduler import nodes

log = logging.getLogger(__name__)
DEFAULT_INTERVAL = 300.0   # seconds; [compute] capacity_refresh_interval


def interval(section) -> float:
    """How often a node's capacity is asked again; at least a second (0 or less would spin)."""
    try:
        return max(1.0, float(section.get("capacity_refresh_interval", DEFAULT_INTERVAL)))
    except (TypeError, ValueError):
        return DEFAULT_INTERVAL


def refresh_local(node):
    """Ask this box's own driver again and write what it has now into its row (state and disable kept)."""
    caps = node.driver.refresh_caps()
    with models.database.connection_context():
        row = nodes.register_local(node, caps, up=False)
    log.debug("compute node %s capacity refreshed: %s vCPUs, %s MiB, huge pages %s", row.host, row.vcpus,
              row.memory_mb, row.hugepages)
    return row


def start_local(node, stop: threading.Event | None = None) -> threading.Thread:
    """refresh_local every interval in the background (the compute service's lock-holding process)."""
    stop = stop or threading.Event()

    def loop():
        while not stop.wait(interval(node.section)):
            try:
                refresh_local(node)
            except Exception:   # a hypervisor hiccup: the row keeps what it had, the next round asks again
                log.exception("compute node capacity refresh failed")
    t = threading.Thread(target=loop, name="compute-capacity", daemon=True)
    t.start()
    return t
