"""Sliding window of timestamped samples, bounded by count and by age.

One window is kept per (client, instance) for latencies (a miss is ``math.inf``) and one per client
for its realised outcomes (1.0 within τ, 0.0 otherwise). ``min_keep`` samples survive ageing, so the
estimate of an instance a client has not used for a while is kept (and marked stale by the caller)
instead of being forgotten.
"""

from __future__ import annotations

from collections import deque

from gateway.router.config import WindowConfig


class SlidingWindow:
    """The newest ``max_samples`` samples no older than ``max_age_s`` (``None``: unbounded)."""

    __slots__ = ("_max_age_s", "_max_samples", "_min_keep", "_samples", "last_t")

    def __init__(self, max_samples: int | None, max_age_s: float | None, *, min_keep: int = 0) -> None:
        self._max_samples = max_samples
        self._max_age_s = max_age_s
        self._min_keep = min_keep
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self.last_t: float | None = None  # time of the newest sample ever added

    @classmethod
    def from_config(cls, config: WindowConfig, *, min_keep: int = 0) -> SlidingWindow:
        return cls(config.max_samples, config.max_age_s, min_keep=min_keep)

    def add(self, t: float, value: float) -> None:
        """Append a sample taken at ``t`` (the oldest falls out when the count bound is reached)."""
        self._samples.append((t, value))
        self.last_t = t if self.last_t is None else max(self.last_t, t)

    def prune(self, now: float) -> bool:
        """Drop samples older than ``max_age_s`` (keeping ``min_keep``); return whether any went."""
        if self._max_age_s is None:
            return False
        horizon = now - self._max_age_s
        dropped = False
        while len(self._samples) > self._min_keep and self._samples[0][0] < horizon:
            self._samples.popleft()
            dropped = True
        return dropped

    def values(self) -> list[float]:
        return [v for _, v in self._samples]

    def mean(self) -> float:
        """Mean of the values; ``nan`` when empty."""
        return sum(v for _, v in self._samples) / len(self._samples) if self._samples else float("nan")

    def __len__(self) -> int:
        return len(self._samples)


__all__ = ["SlidingWindow"]
