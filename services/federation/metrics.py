"""The hub's domain gauges, read at scrape time from one pass over the sites: sites by status, and each site's
last contact and up."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from services.federation import models
from services.federation.manager import STATUSES


class FleetGauges:
    """egret_federation_sites{status}, egret_federation_site_last_contact_seconds{site} (absent if it never
    reported) and egret_federation_site_up{site} (1 online or degraded, 0 otherwise)."""

    def __init__(self, manager):
        self.manager = manager

    def collect(self):
        by_status = GaugeMetricFamily("egret_federation_sites", "Enrolled sites by status", labels=["status"])
        last = GaugeMetricFamily("egret_federation_site_last_contact_seconds",
                                 "Seconds since the site's last report", labels=["site"])
        up = GaugeMetricFamily("egret_federation_site_up", "1 if the site is online or degraded, else 0",
                               labels=["site"])
        try:
            models.database.connect(reuse_if_open=True)
            contacts = self.manager.contacts()
        except Exception:  # a scrape must not fail because the DB is busy
            contacts = None
        counts = dict.fromkeys(STATUSES, 0)
        for name, status, seconds in contacts or []:
            counts[status] += 1
            if seconds is not None:
                last.add_metric([name], seconds)
            up.add_metric([name], 1 if status in ("online", "degraded") else 0)
        if contacts is not None:
            for status, count in counts.items():
                by_status.add_metric([status], count)
        yield by_status
        yield last
        yield up
