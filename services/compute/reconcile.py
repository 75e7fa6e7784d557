"""Compute and the hypervisor agree again: reconcile after a (re)start, and the periodic power-state sync."""
from __future__ import annotations

import logging
import threading
import time

from services.compute import faults
from services.compute.drivers import base as drv
from services.compute.models import ComputeNode, Instance
from services.compute.tasks import in_db

log = logging.getLogger(__name__)


class Reconciler:
    """Repairs what a crash or a guest's own doing left different between the database and the driver."""

    def __init__(self, node, builder):
        self.node = node
        self.builder = builder

    @in_db
    def reconcile(self) -> dict:
        """Compare libvirt with the database after a (re)start and repair each difference."""
        report = {"ghost_domains": [], "failed_builds": [], "finished_deletes": [], "reset_tasks": []}
        live = {i.domain_name: i for i in Instance.select().where(Instance.deleted == False)}  # noqa: E712
        # this node's own domains: another node's agent reconciles its own
        driver = self.node.driver
        for name in driver.list_domains():
            if name not in live:
                driver.destroy(name)
                report["ghost_domains"].append(name)
        for inst in live.values():
            if inst.task_state == "deleting":
                self.builder.delete_instance(inst.id)
                report["finished_deletes"].append(inst.id)
            elif inst.vm_state == "building":
                self.builder.teardown(inst, keep_volumes=True)
                inst = Instance.get_by_id(inst.id)
                faults.record(inst, "Build interrupted: the compute service restarted during the build.")
                inst.vm_state, inst.task_state, inst.power_state = "error", None, drv.NOSTATE
                inst.save()
                report["failed_builds"].append(inst.id)
            elif inst.task_state is not None:
                inst.task_state = None
                inst.save()
                report["reset_tasks"].append(inst.id)
        for inst in Instance.select().where(Instance.deleted == True):  # noqa: E712
            if inst.ports:
                self.builder.teardown(inst)
        self.sync_power_states()
        return report

    @in_db
    def sync_power_states(self) -> int:
        changed = 0
        query = Instance.select().where((Instance.deleted == False) & (Instance.task_state.is_null())  # noqa
                                        & (Instance.vm_state.in_(["active", "stopped", "paused", "suspended"])))
        # a node the site calls down is not asked (each call would wait out its connect timeout); its servers keep
        # the power state last seen, as Nova's do
        down = {n.host for n in ComputeNode.select(ComputeNode.host).where(ComputeNode.state == "down")}
        for inst in query:
            if inst.host and inst.host in down and inst.host != self.node.host:
                continue
            try:
                driver = self.node.driver_for(inst)
                state = driver.power_state(inst.domain_name)
            except drv.DriverError as exc:   # an unreachable node holds up only its own servers' sync
                log.debug("power state of %s: %s", inst.id, exc)
                continue
            if state == inst.power_state:
                continue
            inst.power_state = state
            if inst.vm_state == "active" and state in (drv.SHUTDOWN, drv.CRASHED):
                inst.vm_state = "stopped"  # the guest powered itself off, as Nova's sync records it
            elif inst.vm_state == "stopped" and state == drv.RUNNING:
                inst.vm_state = "active"
            inst.save()
            changed += 1
        return changed

    def start_background(self, interval: float) -> threading.Thread:
        def loop():
            while True:
                time.sleep(interval)
                try:
                    self.sync_power_states()
                except Exception:
                    log.exception("power-state sync failed")
        t = threading.Thread(target=loop, name="compute-power-sync", daemon=True)
        t.start()
        return t
