"""Load numbers an instance reports on ``GET /v1/load``: counters and recent latency percentiles.

Pure bookkeeping with the time passed in: the server feeds it on the loop. The window keeps the last
:data:`LOAD_WINDOW_SAMPLES` samples no older than :data:`LOAD_WINDOW_AGE_S`, so an instance that
went idle stops reporting the p95 of a burst long gone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

LOAD_WINDOW_SAMPLES = 512  # enough for a stable p95 (≥ 20 samples past it) at a few hundred req/s
LOAD_WINDOW_AGE_S = 30.0  # same horizon as the router's latency window (gateway.router.config)
PERCENTILES: tuple[float, ...] = (0.5, 0.95, 0.99)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (``q`` in [0, 1])."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))]


@dataclass
class LatencyWindow:
    """Recent ``(time, ms)`` samples, bounded by count and by age."""

    max_samples: int = LOAD_WINDOW_SAMPLES
    max_age_s: float = LOAD_WINDOW_AGE_S
    _samples: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, now: float, ms: float) -> None:
        self._samples.append((now, ms))
        while len(self._samples) > self.max_samples:
            self._samples.popleft()

    def _expire(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self.max_age_s:
            self._samples.popleft()

    def summary(self, now: float) -> dict[str, Any]:
        """``{"n": …, "p50": …, "p95": …, "p99": …}`` in ms (percentiles None when empty)."""
        self._expire(now)
        values = sorted(ms for _, ms in self._samples)
        out: dict[str, Any] = {"n": len(values)}
        for q in PERCENTILES:
            out[f"p{round(q * 100)}"] = round(percentile(values, q), 3) if values else None
        return out


@dataclass
class LoadStats:
    """Counters since start plus the server-time and batch-time windows."""

    requests: int = 0
    errors: int = 0
    batches: int = 0
    batched_requests: int = 0
    server_ms: LatencyWindow = field(default_factory=LatencyWindow)
    batch_ms: LatencyWindow = field(default_factory=LatencyWindow)

    def record_request(self, now: float, status: int, ms: float) -> None:
        self.requests += 1
        if status == 200:
            self.server_ms.add(now, ms)
        else:
            self.errors += 1

    def record_batch(self, now: float, size: int, service_s: float) -> None:
        self.batches += 1
        self.batched_requests += size
        self.batch_ms.add(now, service_s * 1000.0)

    def snapshot(self, now: float, *, queued: int, in_flight: int) -> dict[str, Any]:
        mean = self.batched_requests / self.batches if self.batches else None
        return {
            "queue": queued, "in_flight": in_flight, "requests": self.requests, "errors": self.errors,
            "batches": self.batches, "mean_batch": None if mean is None else round(mean, 3),
            "server_ms": self.server_ms.summary(now), "batch_ms": self.batch_ms.summary(now),
        }


__all__ = ["LOAD_WINDOW_AGE_S", "LOAD_WINDOW_SAMPLES", "PERCENTILES", "LatencyWindow", "LoadStats", "percentile"]
