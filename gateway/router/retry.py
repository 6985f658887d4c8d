"""Retry budget and jittered backoff for the router's HTTP hop (pure; ``now`` is passed in).

A retry budget keeps retries from multiplying load when instances are struggling (Finagle
``RetryBudget``, Envoy retry budgets): every request deposits ``budget-ratio`` tokens (0.2: at most
20 % of requests may be retried), every retry withdraws one, the bucket holds at most ``max-tokens``,
and ``min-retries-per-s`` optionally adds a time-based allowance for quiet clients. The delay before a
retry comes from the project's one backoff primitive, :class:`aiotwin.retry.Backoff` (full jitter).

Usage in the hop::

    backoff = retries.new_request(now)
    while True:
        decision = policy.choose(client, now, avoid=tried)
        ...                                   # send; policy.observe(...)
        if ok: break
        delay = retries.retry_delay(backoff, now, deadline=deadline)
        if delay is None: break               # budget spent, attempts used up, or past the deadline
        await asyncio.sleep(delay)
"""

from __future__ import annotations

import random

from aiotwin.retry import Backoff
from gateway.router.config import RetryConfig

_TOKEN_EPS = 1e-9  # 5 × 0.2 may sum to 0.9999999999999999: still one token


class RetryBudget:
    """Token bucket over requests and retries."""

    def __init__(self, config: RetryConfig) -> None:
        self._cfg = config
        self.tokens = 0.0
        self.requests = 0
        self.retries = 0
        self.denied = 0
        self._last: float | None = None

    def _refill(self, now: float, deposit: float = 0.0) -> None:
        if self._last is not None and now > self._last:
            deposit += self._cfg.min_retries_per_s * (now - self._last)
        self._last = now if self._last is None else max(self._last, now)
        self.tokens = min(self._cfg.max_tokens, self.tokens + deposit)

    def record_request(self, now: float) -> None:
        """Count one original request (deposits ``budget-ratio`` tokens)."""
        self.requests += 1
        self._refill(now, self._cfg.budget_ratio)

    def try_retry(self, now: float) -> bool:
        """Withdraw one token for a retry; ``False`` when the budget is spent."""
        self._refill(now)
        if self.tokens >= 1.0 - _TOKEN_EPS:
            self.tokens = max(0.0, self.tokens - 1.0)
            self.retries += 1
            return True
        self.denied += 1
        return False


class RetryPolicy:
    """Budget plus per-request backoff: decides whether and when an attempt may be retried."""

    def __init__(self, config: RetryConfig, rng: random.Random) -> None:
        self._cfg = config
        self._rng = rng
        self.budget = RetryBudget(config)

    def new_request(self, now: float) -> Backoff:
        """Count a new request and return its backoff state."""
        self.budget.record_request(now)
        return Backoff(base_s=self._cfg.backoff_base_s, cap_s=self._cfg.backoff_cap_s,
                       max_attempts=self._cfg.max_attempts, rng=self._rng)

    def retry_delay(self, backoff: Backoff, now: float, *, deadline: float | None = None) -> float | None:
        """Seconds to wait before retrying after a failed attempt, or ``None`` to give up."""
        delay = backoff.next_delay()
        if delay is None:
            return None
        if deadline is not None and now + delay >= deadline:
            return None
        return delay if self.budget.try_retry(now) else None


__all__ = ["RetryBudget", "RetryPolicy"]
