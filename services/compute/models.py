"""Compute models: flavors, keypairs, instances (servers) with their volume attachments, groups, quotas, nodes."""
from __future__ import annotations

import datetime
import uuid

import peewee

from appliance.db import JSONField, model_base

database = peewee.DatabaseProxy()
Base = model_base(database)


def _uuid() -> str:
    return str(uuid.uuid4())


class Flavor(Base):
    # Nova flavor ids are free-form strings ("1", "m1.tiny" or a uuid)
    name = peewee.CharField(unique=True)
    ram = peewee.IntegerField()
    vcpus = peewee.IntegerField()
    disk = peewee.IntegerField(default=0)
    swap = peewee.IntegerField(default=0)
    ephemeral = peewee.IntegerField(default=0)
    rxtx_factor = peewee.FloatField(default=1.0)
    is_public = peewee.BooleanField(default=True)
    disabled = peewee.BooleanField(default=False)
    description = peewee.TextField(null=True)
    extra_specs = JSONField(default=dict)


class FlavorAccess(Base):
    flavor = peewee.ForeignKeyField(Flavor, on_delete="CASCADE", backref="access")
    project_id = peewee.CharField()

    class Meta:
        indexes = ((("flavor", "project_id"), True),)


class KeyPair(Base):
    name = peewee.CharField()
    user_id = peewee.CharField(index=True)
    public_key = peewee.TextField()
    fingerprint = peewee.CharField()
    type = peewee.CharField(default="ssh")

    class Meta:
        indexes = ((("user_id", "name"), True),)


class ServerGroup(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=_uuid)
    name = peewee.CharField()
    project_id = peewee.CharField(index=True)
    user_id = peewee.CharField()
    policy = peewee.CharField()
    rules = JSONField(default=dict)


class Instance(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=_uuid)
    name = peewee.CharField()
    project_id = peewee.CharField(index=True)
    user_id = peewee.CharField()
    flavor = JSONField()                       # the flavor as it was at boot (Nova embeds a copy)
    old_flavor = JSONField(null=True)          # during resize, for revert
    image_ref = peewee.CharField(default="")
    image = JSONField(null=True)               # kernel/ramdisk/cmdline resolved at build
    key_name = peewee.CharField(null=True)
    key_data = peewee.TextField(null=True)
    user_data = peewee.TextField(null=True)
    metadata = JSONField(default=dict)
    tags = JSONField(default=list)
    description = peewee.TextField(null=True)
    hostname = peewee.CharField(default="")
    vm_state = peewee.CharField(default="building", index=True)
    task_state = peewee.CharField(null=True)
    power_state = peewee.IntegerField(default=0)
    host = peewee.CharField(default="")
    domain_name = peewee.CharField(default="")
    availability_zone = peewee.CharField(default="nova")
    security_groups = JSONField(default=list)
    config_drive = peewee.BooleanField(default=False)
    requested_networks = JSONField(default=list)   # as asked: "auto", "none" or a list
    ports = JSONField(default=list)                # [{port_id, network_id, mac, created, bridge, tap}]
    fault = JSONField(null=True)
    locked = peewee.BooleanField(default=False)
    locked_reason = peewee.TextField(null=True)
    server_group_id = peewee.CharField(null=True)
    launch_index = peewee.IntegerField(default=0)
    reservation_id = peewee.CharField(default="")
    access_ipv4 = peewee.CharField(default="")
    access_ipv6 = peewee.CharField(default="")
    boot_from_volume = peewee.BooleanField(default=False)
    launched_at = peewee.DateTimeField(null=True)
    terminated_at = peewee.DateTimeField(null=True)
    deleted = peewee.BooleanField(default=False, index=True)


class VolumeAttachment(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=_uuid)   # Nova's bdm uuid
    instance = peewee.ForeignKeyField(Instance, on_delete="CASCADE", backref="attachments")
    volume_id = peewee.CharField(index=True)
    attachment_id = peewee.CharField(null=True)       # the storage service's attachment
    device = peewee.CharField()
    boot_index = peewee.IntegerField(null=True)
    delete_on_termination = peewee.BooleanField(default=False)
    tag = peewee.CharField(null=True)
    connection_info = JSONField(null=True)


class Quota(Base):
    project_id = peewee.CharField()
    resource = peewee.CharField()
    hard_limit = peewee.IntegerField()

    class Meta:
        indexes = ((("project_id", "resource"), True),)


class ComputeNode(Base):
    """A compute node of the site as the scheduler sees it: capacity, zone, state (os-hypervisors, os-services)."""
    host = peewee.CharField(unique=True)
    address = peewee.CharField(default="")
    availability_zone = peewee.CharField(default="nova")
    state = peewee.CharField(default="up")             # up | down: the heartbeats', and down while forced_down
    # an admin's force-down (os-services): holds until the admin lifts it, whatever the heartbeats say
    forced_down = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])
    disabled = peewee.BooleanField(default=False)
    disabled_reason = peewee.TextField(null=True)
    hypervisor_type = peewee.CharField(default="qemu")  # the driver's domain type: kvm | qemu | fake
    hypervisor_version = peewee.IntegerField(default=0)
    arch = peewee.CharField(default="x86_64")
    vcpus = peewee.IntegerField(default=0)
    memory_mb = peewee.IntegerField(default=0)
    disk_gb = peewee.IntegerField(default=0)
    numa_nodes = peewee.IntegerField(default=1)
    dedicated_cpus = JSONField(default=list)          # host CPU ids set aside for pinned guests
    # each core's threads, where the node has SMT (HostCaps.thread_siblings)
    thread_siblings = JSONField(default=list, constraints=[peewee.SQL("DEFAULT '[]'")])
    hugepages = JSONField(default=dict)               # page size KiB (str) -> pages the node has for guests
    info = JSONField(default=dict)                    # what the views show and nobody schedules on
    cpu_allocation_ratio = peewee.FloatField(default=16.0)
    ram_allocation_ratio = peewee.FloatField(default=1.5)
    disk_allocation_ratio = peewee.FloatField(default=1.0)


class Allocation(Base):
    """What one server holds on its node: counted against the node's capacity until the server is torn down."""
    instance_id = peewee.CharField(unique=True)
    host = peewee.CharField(index=True)
    vcpus = peewee.IntegerField(default=0)             # shared vCPUs (a pinned server holds `cpus` instead)
    memory_mb = peewee.IntegerField(default=0)
    disk_gb = peewee.IntegerField(default=0)
    cpus = JSONField(default=list)                    # the dedicated host CPUs it is pinned to
    page_kib = peewee.IntegerField(null=True)          # huge page size its memory is backed by
    # a resize in place of a server with hw:cpu_thread_policy isolate or require: each flavor's CPUs (flavor id
    # -> CPUs), all held in `cpus` until the resize is confirmed or reverted
    resize_cpus = JSONField(null=True)


class Migration(Base):
    """A server's move between nodes (Nova's os-migrations row): a cold migration or an evacuation."""
    instance_id = peewee.CharField(index=True)
    migration_type = peewee.CharField()                # migration | evacuation
    status = peewee.CharField()                        # Nova's: pre-migrating .. finished, confirmed, reverted, done, error
    source_compute = peewee.CharField()
    dest_compute = peewee.CharField()
    source_domain = peewee.CharField(default="")        # the guest's domain name on the source (removed on confirm)
    was_running = peewee.BooleanField(default=True)


class InstanceAction(Base):
    """What was done to a server and by whom (Nova's instance actions: evacuate, migrate, confirmResize, ...)."""
    instance_id = peewee.CharField(index=True)
    action = peewee.CharField()
    user_id = peewee.CharField(default="")
    project_id = peewee.CharField(default="")
    message = peewee.TextField(null=True)
    # with microseconds, as Nova shows it (created_at keeps whole seconds): it also orders a server's actions
    start_time = peewee.DateTimeField(default=lambda: datetime.datetime.now(datetime.timezone.utc).replace(
        tzinfo=None))


ALL_MODELS = [Flavor, FlavorAccess, KeyPair, ServerGroup, Instance, VolumeAttachment, Quota, ComputeNode, Allocation,
              Migration, InstanceAction]
