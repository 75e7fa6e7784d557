"""The hub's domain gauges, read at scrape time: sites by status, and each site's last contact and up."""
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


class SiteContacts:
    """Per site: egret_federation_site_last_contact_seconds (absent if it never reported) and
    egret_federation_site_up (1 online or degraded, 0 otherwise)."""

    def __init__(self, manager):
        self.manager = manager

    def collect(self):
        last = GaugeMetricFamily("egret_federation_site_last_contact_seconds",
                                 "Seconds since the site's last report", labels=["site"])
        up = GaugeMetricFamily("egret_federation_site_up", "1 if the site is online or degraded, else 0",
                               labels=["site"])
        try:
            models.database.connect(reuse_if_open=True)
            contacts = self.manager.contacts()
        except Exception:  # a scrape must not fail because the DB is busy
            contacts = []
        for name, status, seconds in contacts:
            if seconds is not None:
                last.add_metric([name], seconds)
            up.add_metric([name], 1 if status in ("online", "degraded") else 0)
        yield last
        yield up
