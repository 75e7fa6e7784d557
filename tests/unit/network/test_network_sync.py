"""Data-plane syncs: callers that arrive during a pass share the next one, and none returns before its change is applied."""
from __future__ import annotations

import threading

from services.network import models
from services.network.drivers.fake import FakeDriver


class SlowDriver(FakeDriver):
    """Holds its first apply until released; records how many ports each pass saw and whether it verified."""

    def __init__(self, settings):
        super().__init__(settings, prefix="egt")
        self.entered, self.release = threading.Event(), threading.Event()
        self.passes: list[tuple[int, bool]] = []

    def apply(self, topology, verify=True):
        self.passes.append((len(topology.ports), verify))
        if len(self.passes) == 1:
            self.entered.set()
            assert self.release.wait(5)
        super().apply(topology, verify)


def test_callers_during_a_pass_share_the_next_one(app, admin):
    manager = app.extensions["egret.manager"]
    net = admin.ok("POST", "/v2.0/networks", {"network": {"name": "n"}})["network"]
    driver = manager.driver = SlowDriver(manager.settings)

    first = threading.Thread(target=manager.sync)
    first.start()
    assert driver.entered.wait(5)
    # five ports committed while the first pass runs (it read the DB before them); one caller asks to verify
    with app.app_context():
        models.database.connect(reuse_if_open=True)
        for i in range(5):
            models.Port.create(project_id="p", network=net["id"], mac_address=f"fa:16:3e:00:00:0{i}")
        models.database.close()
    returned = []
    waiters = [threading.Thread(target=lambda v=v: (manager.sync(verify=v), returned.append(len(driver.passes))))
               for v in (False, False, True, False, False)]
    for t in waiters:
        t.start()
    driver.release.set()
    for t in [first, *waiters]:
        t.join(10)

    assert driver.passes == [(0, False), (5, True)]  # one more pass for all five, verifying as one of them asked
    assert returned == [2] * 5                       # none returned on the first pass, which missed its port
    manager.sync()                                   # nobody running: a caller starts its own pass at once
    assert driver.passes[-1] == (5, False)
