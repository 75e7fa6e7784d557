"""Latency summaries the benches print: p50 and p95 in milliseconds of samples taken in seconds."""
from __future__ import annotations

import statistics


def ms(seconds) -> dict:
    values = sorted(seconds)
    return {"p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(values[int(len(values) * 0.95) - 1] * 1000, 1), "n": len(values)}
