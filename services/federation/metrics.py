"""The hub's domain gauge: enrolled sites by status, read at scrape time."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from services.federation import models


class SitesByStatus:
    """The egret_federation_sites gauge: enrolled sites by status."""

    def __init__(self, manager):
        self.manager = manager

    def collect(self):
        family = GaugeMetricFamily("egret_federation_sites", "Enrolled sites by status", labels=["status"])
        try:
            models.database.connect(reuse_if_open=True)
            counts = self.manager.counts_by_status()
        except Exception:  # a scrape must not fail because the DB is busy
            counts = {}
        for status, count in counts.items():
            family.add_metric([status], count)
        yield family
