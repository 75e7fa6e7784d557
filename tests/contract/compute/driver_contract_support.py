"""Helpers of the compute driver contract suites: a guest spec on the tiny guest, and waiting for a condition."""
from __future__ import annotations

import subprocess
import time
import uuid

from services.compute.drivers import base


def spec_for(driver, workdir, guest, name, **kw) -> base.GuestSpec:
    """A one-vCPU spec booting the tiny guest from its own overlay (made once per name)."""
    overlay = workdir / f"{name}.qcow2"
    if not overlay.exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(guest.disk), "-F", "qcow2",
                        str(overlay)], check=True)
    server = str(uuid.uuid4())
    fields = dict(name=driver.prefix + name, uuid=server, vcpus=1, memory_mb=256,
                  disks=[base.DiskSpec(path=str(overlay), target="vda")],
                  kernel=str(guest.kernel), initrd=str(guest.initrd), cmdline=guest.cmdline,
                  console_log=driver.console_path(server))   # the node's place for it; console_log(uuid) reads it
    fields.update(kw)
    return base.GuestSpec(**fields)


def wait(predicate, timeout=60.0, step=0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
