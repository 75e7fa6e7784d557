"""Prometheus metrics: one CollectorRegistry per app, request count and latency by endpoint and status."""
from __future__ import annotations

import time

from flask import Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "egret_http_requests", "HTTP requests handled", ["service", "method", "endpoint", "status"],
            registry=self.registry)
        self.latency = Histogram(
            "egret_http_request_duration_seconds", "HTTP request latency", ["service", "method", "endpoint"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)

    def start(self) -> None:
        g._metrics_t0 = time.perf_counter()

    def finish(self, response) -> None:
        t0 = g.pop("_metrics_t0", None)
        if t0 is None:
            return
        # the route pattern, not the raw path, so ids do not explode the label space
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        self.requests.labels(self.service, request.method, endpoint, str(response.status_code)).inc()
        self.latency.labels(self.service, request.method, endpoint).observe(time.perf_counter() - t0)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)
