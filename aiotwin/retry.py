"""The one retry primitive: exponential backoff with full jitter, and hooks.

Every reconnect (camera source, gateway, coordinator, OTA fetch) uses :class:`Backoff` rather than
an ad-hoc sleep loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

# AWS architecture blog "Exponential Backoff And Jitter" (full jitter) — production defaults.
DEFAULT_BASE_S = 0.5
DEFAULT_CAP_S = 30.0


@dataclass
class Backoff:
    """State of one retrying activity. ``next_delay()`` returns how long to wait before attempt n+1.

    Hooks: ``on_backoff(attempt, delay)``, ``on_success(attempts)``, ``on_giveup(attempts)``.
    ``max_attempts=None`` retries forever (daemons); ``rng`` is injectable for tests.
    """

    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    max_attempts: int | None = None
    rng: random.Random = field(default_factory=random.Random)
    on_backoff: Callable[[int, float], None] | None = None
    on_success: Callable[[int], None] | None = None
    on_giveup: Callable[[int], None] | None = None
    attempts: int = 0

    def next_delay(self) -> float | None:
        """Record a failure; return the delay before the next try, or ``None`` to give up."""
        self.attempts += 1
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            if self.on_giveup:
                self.on_giveup(self.attempts)
            return None
        delay = self.rng.uniform(0.0, min(self.cap_s, self.base_s * (2 ** (self.attempts - 1))))
        if self.on_backoff:
            self.on_backoff(self.attempts, delay)
        return delay

    def succeeded(self) -> None:
        """Record a success: the next failure starts from the base delay again."""
        if self.on_success:
            self.on_success(self.attempts)
        self.attempts = 0


__all__ = ["DEFAULT_BASE_S", "DEFAULT_CAP_S", "Backoff"]
