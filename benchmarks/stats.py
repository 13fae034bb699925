"""Summaries of timing samples (nanoseconds), shared by the Python-side measurements."""

from __future__ import annotations

import math
from typing import Any


def rank(sorted_samples: list[int], q: float) -> int:
    """Nearest-rank percentile of sorted samples (as the Elixir side computes it)."""
    n = len(sorted_samples)
    if not n:
        return 0
    return sorted_samples[min(n - 1, max(math.ceil(q * n) - 1, 0))]


def summary(op: str, path: str, round_: int, samples_ns: list[int], bytes_moved: int = 0) -> dict[str, Any]:
    """One record: p50/p99/mean in microseconds and calls per second of one caller."""
    ordered = sorted(samples_ns)
    n = len(ordered)
    mean_us = sum(ordered) / max(n, 1) / 1000
    return {
        "side": "python",
        "op": op,
        "path": path,
        "round": round_,
        "n": n,
        "p50_us": rank(ordered, 0.50) / 1000,
        "p99_us": rank(ordered, 0.99) / 1000,
        "mean_us": mean_us,
        "per_s": 1e6 / mean_us if mean_us > 0 else 0.0,
        "bytes": bytes_moved,
    }
