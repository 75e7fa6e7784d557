"""Servers moving between nodes: evacuation off a down node, cold migration with its confirm and revert."""
from __future__ import annotations

import logging
from types import SimpleNamespace

from appliance.errors import BadRequest, Conflict, NotFound
from services.compute import faults, scheduler, volume_nodes
from services.compute.drivers import base as drv
from services.compute.instance_actions import record
from services.compute.models import ComputeNode, Instance, Migration
from services.compute.tasks import in_db

log = logging.getLogger(__name__)

# a cold migration between its start and its confirm or revert holds the source's claim under the migration's id
UNCONFIRMED = ("pre-migrating", "migrating", "post-migrating", "finished", "reverting")


def driver_on(node, host: str):
    """The driver of node `host` (DriverError if this API cannot reach it)."""
    return node.driver_for(SimpleNamespace(host=host))


def forget_unconfirmed(node, instance_id: str) -> None:
    """A server deleted before its migration was confirmed: its source copy (domain, files) and claim go too."""
    for mig in Migration.select().where((Migration.instance_id == instance_id) & Migration.status.in_(UNCONFIRMED)):
        _drop_source(node, mig)
        mig.status = "error"
        mig.save()


def _drop_source(node, mig) -> None:
    try:
        source = driver_on(node, mig.source_compute)
        source.destroy(mig.source_domain)
        source.delete_instance_files(mig.instance_id)
    except drv.DriverError as exc:   # a node that is down: it destroys what moved away when it returns
        log.warning("source of %s on %s: %s", mig.instance_id, mig.source_compute, exc)
    scheduler.release(mig.id)


def list_migrations(filters) -> list[tuple]:
    """Every move with its server (None if gone), newest first (Nova's GET /os-migrations: host, status,
    instance_uuid, migration_type, source_compute filters)."""
    query = Migration.select().order_by(Migration.created_at.desc(), Migration.id)
    if filters.get("host"):
        query = query.where((Migration.source_compute == filters["host"]) | (Migration.dest_compute == filters["host"]))
    for name, column in (("status", Migration.status), ("instance_uuid", Migration.instance_id),
                         ("migration_type", Migration.migration_type), ("source_compute", Migration.source_compute)):
        if filters.get(name):
            query = query.where(column == filters[name])
    rows = list(query)
    servers = {i.id: i for i in Instance.select().where(Instance.id.in_([r.instance_id for r in rows]))} \
        if rows else {}
    return [(row, servers.get(row.instance_id)) for row in rows]


class ServerMoves:
    """The API's checks (synchronous, as Nova's) and the tasks that move a server's guest to another node."""

    def __init__(self, node, builder, devices):
        self.node = node
        self.builder = builder
        self.devices = devices

    # -- checks and claims (the request's own time) ----------------------------------------------------------
    def _target(self, inst, host: str | None, not_found) -> None:
        if host is None:
            return
        if not ComputeNode.select().where(ComputeNode.host == host).exists():
            raise not_found
        if host == inst.host:
            raise BadRequest("The target host can't be the same one.")

    def _claim(self, inst, host, force=False, keep_source=None) -> None:
        props = scheduler.image_properties(self.node, inst, None)
        # a volume-backed server may leave its volumes' node only if that node exports them now
        volume_nodes.refresh(self.node, inst)
        try:
            scheduler.move(inst, self.node.section, props, host=host, force=force, keep_source=keep_source)
        except scheduler.NoValidHost as exc:
            raise BadRequest(str(exc)) from None

    def _take(self, inst, action: str, states, task: str) -> None:
        """Set the move's task state if the server is in one of `states` with no task, in one UPDATE: of two
        concurrent moves of one server, one wins and the other is Nova's 409."""
        if not inst.host:
            raise Conflict(f"Cannot '{action}' instance {inst.id}: it has no host.")
        taken = Instance.update(task_state=task).where(
            (Instance.id == inst.id) & Instance.vm_state.in_(states) & Instance.task_state.is_null()).execute()
        if not taken:
            fresh = Instance.get_by_id(inst.id)
            raise Conflict(f"Cannot '{action}' instance {inst.id} while it is in "
                           + (f"task_state {fresh.task_state}" if fresh.task_state else f"vm_state {fresh.vm_state}"))
        inst.task_state = task

    def _release(self, inst) -> None:
        """A move refused after _take: the server is as it was."""
        Instance.update(task_state=None).where(Instance.id == inst.id).execute()
        inst.task_state = None

    def evacuate(self, inst, host: str | None, force: bool, ctx) -> Migration:
        """Rebuild a server of a down node elsewhere (Nova's evacuate): its node must be down (or forced down)."""
        source = ComputeNode.get_or_none(ComputeNode.host == inst.host)
        if inst.host and (source is None or source.state != "down"):
            raise BadRequest(f"Compute service of {inst.host} is still in use.")
        self._target(inst, host, NotFound(f"Compute host {host} not found."))
        self._take(inst, "evacuate", ("active", "stopped", "error"), "rebuilding")
        mig = Migration.create(instance_id=inst.id, migration_type="evacuation", status="accepted",
                               source_compute=inst.host, dest_compute=host or "", source_domain=inst.domain_name,
                               was_running=True)
        try:
            self._claim(inst, host, force=force)     # the down node's claim is released with it
        except BadRequest:
            mig.delete_instance()
            self._release(inst)
            raise
        mig.dest_compute, mig.status = inst.host, "pre-migrating"
        mig.save()
        inst.save()
        record(inst, "evacuate", ctx)
        self.node.tasks.submit(self.do_evacuate, inst.id, mig.id)
        return mig

    def migrate(self, inst, host: str | None, ctx) -> Migration:
        """Cold migration (Nova's resize to the same flavor on another node): the source keeps its claim and its
        disk until confirmResize."""
        if host is not None and host == inst.host:
            raise BadRequest(f"Cannot migrate instance {inst.id} to the host it is on ({host}).")
        self._target(inst, host, BadRequest(f"Compute host {host} could not be found."))
        self._take(inst, "migrate", ("active", "stopped"), "resize_prep")
        mig = Migration.create(instance_id=inst.id, migration_type="migration", status="pre-migrating",
                               source_compute=inst.host, dest_compute=host or "", source_domain=inst.domain_name,
                               was_running=inst.vm_state == "active")
        try:
            self._claim(inst, host, keep_source=mig.id)
        except BadRequest:
            mig.delete_instance()
            self._release(inst)
            raise
        mig.dest_compute = inst.host
        mig.save()
        inst.save()
        record(inst, "migrate", ctx)
        self.node.tasks.submit(self.do_migrate, inst.id, mig.id)
        return mig

    def unconfirmed(self, inst) -> Migration | None:
        """The server's cold migration waiting for confirmResize or revertResize, if any."""
        return (Migration.select().where((Migration.instance_id == inst.id) & (Migration.status == "finished")
                                         & (Migration.migration_type == "migration"))
                .order_by(Migration.created_at.desc()).first())

    def confirm(self, inst, mig, ctx) -> None:
        """The source's copy and claim go; the server stays where it is now."""
        _drop_source(self.node, mig)
        mig.status = "confirmed"
        mig.save()
        inst.vm_state = "active" if inst.power_state == drv.RUNNING else "stopped"
        inst.save()
        record(inst, "confirmResize", ctx)

    def revert(self, inst, mig, ctx) -> None:
        mig.status = "reverting"
        mig.save()
        inst.task_state = "resize_reverting"
        inst.save()
        record(inst, "revertResize", ctx)
        self.node.tasks.submit(self.do_revert, inst.id, mig.id)

    @in_db
    def recover(self) -> list[str]:
        """After a restart, the moves a crash interrupted (before the reconciler clears their task states): a cold
        migration (or its revert) goes back to its source, where its disk still is; an evacuation runs again (its
        node is down). The servers recovered."""
        out = []
        for mig in Migration.select().where(Migration.status.in_(
                ("accepted", "pre-migrating", "migrating", "post-migrating", "reverting"))):
            inst = Instance.get_or_none(Instance.id == mig.instance_id)
            if inst is None or inst.deleted:
                mig.status = "error"
                mig.save()
                continue
            if mig.migration_type == "evacuation":
                inst.task_state = "rebuilding"
                inst.save()
                self.do_evacuate(inst.id, mig.id)
            else:
                faults.record(inst, "Migration interrupted: the compute service restarted; the server is back on "
                                    f"{mig.source_compute}.")
                mig.status = "reverted" if mig.status == "reverting" else "error"
                self._back(inst, mig)
                inst.save()
                mig.save()
            out.append(inst.id)
        return out

    # -- the guest's move (a task) ----------------------------------------------------------------------------
    def _respawn(self, inst, chunks=None, running: bool = True, fresh: bool = False) -> None:
        """The server's guest on the node it now names (inst.host), with the same ports (bound there) and volumes
        (attached there); its root disk from `chunks` (a migration), kept (a revert), or new from its image."""
        driver = self.node.driver_for(inst)
        inst.domain_name = driver.prefix + inst.id
        inst.save()
        if fresh:
            driver.destroy(inst.domain_name)
            driver.delete_instance_files(inst.id)   # whatever an earlier stay on this node left
        if chunks is not None:
            driver.import_root_disk(inst.id, chunks)
        vifs = self.devices.rebind_ports(inst)
        self.devices.drop_connections(inst)
        spec = self.builder.guest_spec(inst, vifs, None)
        if running:
            driver.spawn(spec)
        else:
            driver.define(spec)
        inst.power_state = driver.power_state(inst.domain_name)

    def _task(self, inst, task: str) -> None:
        inst.task_state = task
        inst.save()

    @in_db
    def do_evacuate(self, instance_id: str, migration_id: str) -> None:
        inst, mig = Instance.get_by_id(instance_id), Migration.get_by_id(migration_id)
        with self.node.tasks.lock_for(instance_id):
            try:
                self._task(inst, "rebuild_block_device_mapping")
                self._task(inst, "rebuild_spawning")
                self._respawn(inst, fresh=True)
                inst.vm_state, inst.task_state = "active", None
                mig.status = "done"
            except Exception as exc:   # the server stays on its new node, in ERROR with the reason
                log.warning("evacuation of %s failed: %s", instance_id, exc)
                faults.record(inst, exc)
                inst.vm_state, inst.task_state = "error", None
                mig.status = "failed"
            inst.save()
            mig.save()

    @in_db
    def do_migrate(self, instance_id: str, migration_id: str) -> None:
        inst, mig = Instance.get_by_id(instance_id), Migration.get_by_id(migration_id)
        with self.node.tasks.lock_for(instance_id):
            chunks = None
            try:
                source = driver_on(self.node, mig.source_compute)
                mig.status = "migrating"
                mig.save()
                self._task(inst, "resize_migrating")
                if source.power_state(mig.source_domain) != drv.SHUTDOWN:
                    source.power_off(mig.source_domain, self.node.shutdown_timeout)
                if inst.image_ref:   # a volume-backed server has no root disk of its own to carry
                    chunks = source.export_root_disk(inst.id, inst.image_ref)
                # the source's domain goes now, its disk stays until the confirm (a revert boots it again): two
                # nodes that share a libvirtd (several nodes on one machine) cannot both define the server's uuid
                source.destroy(mig.source_domain)
                mig.status = "post-migrating"
                mig.save()
                self._task(inst, "resize_finish")
                self._respawn(inst, chunks, running=mig.was_running, fresh=True)
                inst.vm_state, inst.task_state = "resized", None
                mig.status = "finished"
            except Exception as exc:
                log.warning("migration of %s failed: %s", instance_id, exc)
                faults.record(inst, exc)
                mig.status = "error"
                self._back(inst, mig)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
            inst.save()
            mig.save()

    @in_db
    def do_revert(self, instance_id: str, migration_id: str) -> None:
        inst, mig = Instance.get_by_id(instance_id), Migration.get_by_id(migration_id)
        with self.node.tasks.lock_for(instance_id):
            mig.status = "reverted"
            self._back(inst, mig)
            inst.save()
            mig.save()

    def _back(self, inst, mig) -> None:
        """The server on its source node again, as it was: the target's copy and claim go."""
        try:
            target = driver_on(self.node, mig.dest_compute)
            target.destroy(inst.domain_name)
            target.delete_instance_files(inst.id)
        except drv.DriverError as exc:
            log.warning("target copy of %s on %s: %s", inst.id, mig.dest_compute, exc)
        scheduler.move_back(inst.id, mig.id)
        inst.host = mig.source_compute
        try:
            self._respawn(inst, running=mig.was_running)
            inst.vm_state = "active" if mig.was_running else "stopped"
        except Exception as exc:
            log.warning("%s back on %s failed: %s", inst.id, mig.source_compute, exc)
            faults.record(inst, exc)
            inst.vm_state = "error"
        inst.task_state = None
