"""The per-device upstream byte budget: a token bucket over bytes per hour (pure, clock injected).

Events always go first: the uplink charges what it sent (:meth:`ByteBudget.charge`) and may run the
bucket into debt (down to minus one bucket). Other traffic (offloaded crops, training samples) asks with
:meth:`ByteBudget.try_spend` and gets only what is left, so a busy hour of events starves offloads
before it delays a single count.

Thread-safe: the uplink charges from the event loop while pipelines' offloads spend from their threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

SECONDS_PER_HOUR = 3600.0
DEFAULT_WINDOW_S = SECONDS_PER_HOUR  # bucket size = one hour of budget: "bytes per hour", burstable


class ByteBudget:
    """Token bucket: refills at ``bytes_per_h / 3600`` bytes per second up to ``bytes_per_h * window_s / 3600``."""

    def __init__(self, bytes_per_h: int, *, clock: Callable[[], float] = time.monotonic,
                 window_s: float = DEFAULT_WINDOW_S) -> None:
        if bytes_per_h < 0 or window_s <= 0:
            raise ValueError(f"byte budget needs bytes_per_h >= 0 and window_s > 0 (got {bytes_per_h}, {window_s})")
        self._clock = clock
        self._lock = threading.RLock()
        self._window_s = window_s
        self._rate = bytes_per_h / SECONDS_PER_HOUR
        self._tokens = self.capacity
        self._at = clock()

    @property
    def bytes_per_h(self) -> int:
        return round(self._rate * SECONDS_PER_HOUR)

    @property
    def capacity(self) -> float:
        return self._rate * self._window_s

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._at)
        self._tokens = min(self.capacity, self._tokens + elapsed * self._rate)
        self._at = now

    def available(self) -> int:
        """Bytes other traffic may send now (0 while events keep the bucket in debt)."""
        with self._lock:
            self._refill()
            return max(0, math.floor(self._tokens))

    def charge(self, n: int) -> None:
        """Record ``n`` bytes that went up regardless (events): may take the bucket into debt."""
        with self._lock:
            self._refill()
            self._tokens = max(-self.capacity, self._tokens - n)

    def try_spend(self, n: int) -> bool:
        """Take ``n`` bytes if that many are left; otherwise take nothing and return False."""
        with self._lock:
            self._refill()
            if n > self._tokens:
                return False
            self._tokens -= n
            return True

    def wait_s(self, n: int) -> float:
        """Seconds until ``n`` bytes will be available (``inf`` if never: rate 0 or above capacity)."""
        with self._lock:
            self._refill()
            if n <= self._tokens:
                return 0.0
            if self._rate <= 0 or n > self.capacity:
                return math.inf
            return (n - self._tokens) / self._rate

    def set_rate(self, bytes_per_h: int) -> None:
        """Change the budget (a new ``/cfg``); what is in the bucket stays, capped to the new size."""
        with self._lock:
            if bytes_per_h < 0:
                raise ValueError(f"byte budget must be >= 0 (got {bytes_per_h})")
            self._refill()
            self._rate = bytes_per_h / SECONDS_PER_HOUR
            self._tokens = max(-self.capacity, min(self.capacity, self._tokens))


__all__ = ["DEFAULT_WINDOW_S", "SECONDS_PER_HOUR", "ByteBudget"]
