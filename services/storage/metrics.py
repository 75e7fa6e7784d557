"""Domain gauges of the storage service (volumes by status, images, buckets, bytes stored) on /metrics."""
from __future__ import annotations

from peewee import fn
from prometheus_client.core import GaugeMetricFamily

from services.storage.models import Bucket, Image, Object, Volume, database


class _Collector:
    def __init__(self, storage):
        self.storage = storage

    def collect(self):
        volumes = GaugeMetricFamily("egret_storage_volumes", "Volumes by status", labels=["status"])
        sizes = GaugeMetricFamily("egret_storage_bytes", "Bytes stored by kind", labels=["kind"])
        images = GaugeMetricFamily("egret_storage_images", "Images")
        buckets = GaugeMetricFamily("egret_storage_buckets", "S3 buckets")
        try:
            with database.connection_context():
                for status, count in _group(Volume, Volume.status):
                    volumes.add_metric([status], count)
                images.add_metric([], Image.select().count())
                buckets.add_metric([], Bucket.select().count())
                sizes.add_metric(["images"], sum(i.size or 0 for i in Image.select(Image.size)))
                sizes.add_metric(["objects"], sum(o.size for o in Object.select(Object.size)))
                sizes.add_metric(["volumes_provisioned"], sum(v.size for v in Volume.select(Volume.size)) * 1024 ** 3)
        except Exception:  # metrics must never break the scrape
            return
        yield from (volumes, sizes, images, buckets)


def _group(model, field):
    return [(row[0], row[1]) for row in model.select(field, fn.COUNT(model.id)).group_by(field).tuples()]


def install(app, storage) -> None:
    app.extensions["egret.metrics"].registry.register(_Collector(storage))
