"""This compute node as its collaborators see it: driver, service clients, tasks, host name (files: the driver's)."""
from __future__ import annotations

import threading

from services.compute.drivers.specs import DriverError
from services.compute.tasks import Tasks


class Node:
    """What the builder, the device manager, the actions and the reconciler share (and nothing else)."""

    def __init__(self, settings, driver, clients: dict, synchronous: bool = False):
        self.settings = settings
        self.driver = driver
        self.network, self.image, self.volume = clients["network"], clients["image"], clients["volume"]
        self.section = settings.section("compute")
        self.shutdown_timeout = float(self.section.get("shutdown_timeout", 10))
        self.tasks = Tasks(int(self.section.get("build_workers", 4)), synchronous)
        self._host = None
        # the node registry: host -> driver of every other node this API reaches (see driver_for)
        self._drivers: dict = {}
        self._drivers_lock = threading.Lock()

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = self.section.get("host") or self.driver.host_caps().hostname
        return self._host

    def driver_for(self, inst):
        """The driver of the node that runs `inst` (this node's own when it has no host yet)."""
        host = getattr(inst, "host", "") or self.host
        if host == self.host:
            return self.driver
        with self._drivers_lock:
            driver = self._drivers.get(host)
        if driver is None:
            raise DriverError(f"Compute node {host} is not reachable from this API (no driver registered for it).")
        return driver

    def register_driver(self, host: str, driver) -> None:
        """Reach node `host` through `driver` (the site's remote driver for another node, a fake in tests)."""
        if host == self.host:
            raise ValueError(f"{host} is this node; its driver is the service's own")
        with self._drivers_lock:
            self._drivers[host] = driver

    def unregister_driver(self, host: str) -> None:
        with self._drivers_lock:
            self._drivers.pop(host, None)

    def drivers(self) -> dict:
        """host -> driver for every node this API reaches, this one included."""
        with self._drivers_lock:
            return {self.host: self.driver, **self._drivers}
