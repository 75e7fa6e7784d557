"""Storage tables: images (+members), volumes, snapshots, types, attachments, quotas, buckets, objects, uploads."""
from __future__ import annotations

import uuid

import peewee

from appliance.db import JSONField, model_base

database = peewee.DatabaseProxy()
Base = model_base(database)


def dashed_id() -> str:
    # Glance and Cinder ids are dashed UUIDs; clients print and match them as such
    return str(uuid.uuid4())


class Image(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=dashed_id)
    name = peewee.CharField(null=True, max_length=255)
    owner = peewee.CharField(null=True, index=True)
    status = peewee.CharField(default="queued", index=True)
    visibility = peewee.CharField(default="shared")
    protected = peewee.BooleanField(default=False)
    os_hidden = peewee.BooleanField(default=False)
    disk_format = peewee.CharField(null=True)
    container_format = peewee.CharField(null=True)
    min_disk = peewee.IntegerField(default=0)
    min_ram = peewee.IntegerField(default=0)
    size = peewee.BigIntegerField(null=True)
    virtual_size = peewee.BigIntegerField(null=True)
    checksum = peewee.CharField(null=True)
    os_hash_algo = peewee.CharField(null=True)
    os_hash_value = peewee.CharField(null=True)
    tags = JSONField(default=list)
    properties = JSONField(default=dict)


class ImageMember(Base):
    image = peewee.ForeignKeyField(Image, backref="members", on_delete="CASCADE")
    member_id = peewee.CharField(index=True)
    status = peewee.CharField(default="pending")

    class Meta:
        indexes = ((("image", "member_id"), True),)


class VolumeType(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=dashed_id)
    name = peewee.CharField(unique=True)
    description = peewee.TextField(null=True)
    is_public = peewee.BooleanField(default=True)
    extra_specs = JSONField(default=dict)


class Volume(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=dashed_id)
    project_id = peewee.CharField(index=True)
    user_id = peewee.CharField(null=True)
    name = peewee.CharField(null=True, max_length=255)
    description = peewee.TextField(null=True)
    size = peewee.IntegerField()
    status = peewee.CharField(default="creating", index=True)
    volume_type = peewee.ForeignKeyField(VolumeType, null=True, on_delete="SET NULL")
    bootable = peewee.BooleanField(default=False)
    metadata = JSONField(default=dict)
    image_metadata = JSONField(default=dict)
    source_volid = peewee.CharField(null=True)
    snapshot_id = peewee.CharField(null=True)
    availability_zone = peewee.CharField(default="nova")
    # the operation the status machine is in, so a restart can finish or fail it cleanly
    task = JSONField(null=True)


class Snapshot(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=dashed_id)
    project_id = peewee.CharField(index=True)
    user_id = peewee.CharField(null=True)
    volume = peewee.ForeignKeyField(Volume, backref="snapshots", on_delete="RESTRICT")
    name = peewee.CharField(null=True, max_length=255)
    description = peewee.TextField(null=True)
    size = peewee.IntegerField()
    status = peewee.CharField(default="creating")
    metadata = JSONField(default=dict)


class Attachment(Base):
    id = peewee.CharField(primary_key=True, max_length=64, default=dashed_id)
    volume = peewee.ForeignKeyField(Volume, backref="attachments", on_delete="CASCADE")
    instance_uuid = peewee.CharField(null=True)
    connector = JSONField(null=True)
    status = peewee.CharField(default="reserved")
    attach_mode = peewee.CharField(default="rw")
    mountpoint = peewee.CharField(null=True)
    attached_at = peewee.DateTimeField(null=True)
    # the iSCSI export a server on another node uses (services/storage/exports.py): target, CHAP credentials,
    # initiator; kept so that a restart can export it again
    export = JSONField(null=True)


class Quota(Base):
    project_id = peewee.CharField(index=True)
    resource = peewee.CharField()
    hard_limit = peewee.IntegerField()

    class Meta:
        indexes = ((("project_id", "resource"), True),)


class Bucket(Base):
    name = peewee.CharField(unique=True, max_length=63)
    project_id = peewee.CharField(index=True)
    location = peewee.CharField(default="")


class Object(Base):
    bucket = peewee.ForeignKeyField(Bucket, backref="objects", on_delete="RESTRICT")
    key = peewee.CharField(max_length=1024)
    size = peewee.BigIntegerField()
    etag = peewee.CharField()
    content_type = peewee.CharField(null=True)
    metadata = JSONField(default=dict)  # user metadata and stored response headers
    checksum = JSONField(null=True)  # {"algorithm": "CRC32", "value": base64}
    data_file = peewee.CharField()  # file name under objects/<bucket id>/

    class Meta:
        indexes = ((("bucket", "key"), True),)


class Upload(Base):
    bucket = peewee.ForeignKeyField(Bucket, backref="uploads", on_delete="RESTRICT")
    key = peewee.CharField(max_length=1024)
    content_type = peewee.CharField(null=True)
    metadata = JSONField(default=dict)
    checksum_algorithm = peewee.CharField(null=True)


class Part(Base):
    upload = peewee.ForeignKeyField(Upload, backref="parts", on_delete="CASCADE")
    number = peewee.IntegerField()
    size = peewee.BigIntegerField()
    etag = peewee.CharField()
    checksum = JSONField(null=True)
    data_file = peewee.CharField()

    class Meta:
        indexes = ((("upload", "number"), True),)


ALL = [Image, ImageMember, VolumeType, Volume, Snapshot, Attachment, Quota, Bucket, Object, Upload, Part]
