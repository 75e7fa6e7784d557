"""Compute models: flavors, keypairs, instances (servers) with their volume attachments, groups, quotas."""
from __future__ import annotations

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


ALL_MODELS = [Flavor, FlavorAccess, KeyPair, ServerGroup, Instance, VolumeAttachment, Quota]
