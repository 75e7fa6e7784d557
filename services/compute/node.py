"""This compute node as its collaborators see it: driver, service clients, tasks, host name, instance files."""
from __future__ import annotations

import os
from pathlib import Path

from services.compute.tasks import Tasks


class Node:
    """What the builder, the device manager, the actions and the reconciler share (and nothing else)."""

    def __init__(self, settings, driver, clients: dict, synchronous: bool = False):
        self.settings = settings
        self.driver = driver
        self.network, self.image, self.volume = clients["network"], clients["image"], clients["volume"]
        self.section = settings.section("compute")
        self.instances_dir = Path(self.section.get("instances_dir") or settings.state_dir / "compute" / "instances")
        self.shutdown_timeout = float(self.section.get("shutdown_timeout", 10))
        self.tasks = Tasks(int(self.section.get("build_workers", 4)), synchronous)
        self._host = None

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = self.section.get("host") or self.driver.host_caps().hostname
        return self._host

    def driver_for(self, inst):
        """The driver of the node that runs `inst`: one node today; the site's node registry maps inst.host next."""
        return self.driver

    def instance_dir(self, inst) -> Path:
        return self.instances_dir / inst.id

    def console_path(self, inst) -> Path:
        return self.instance_dir(inst) / "console.log"

    def mkdir(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        # qemu runs as libvirt's own user: it must traverse to the disks
        os.chmod(path, 0o755)
        return path
