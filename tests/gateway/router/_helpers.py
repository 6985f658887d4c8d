"""Shared test helpers: a tiny sequential discrete-event loop and latency models."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.router.policy import Decision, RoutingPolicy

TIMEOUT_MS = 1000.0

LatencyFn = Callable[[str, float], float | None]  # (instance, now) -> latency ms or None (failure)


def gaussian(mean_ms: float, sd_ms: float, rng: random.Random) -> Callable[[], float]:
    return lambda: max(0.1, rng.gauss(mean_ms, sd_ms))


@dataclass
class Loop:
    """One client sending a request every ``dt`` s; each reply is observed when it would arrive."""

    policy: RoutingPolicy
    latency: LatencyFn
    client: str = "cam-1"
    dt: float = 0.25
    now: float = 0.0
    log: list[tuple[float, Decision, float | None]] = field(default_factory=list)

    def run(self, n: int) -> list[Decision]:
        out = []
        for _ in range(n):
            decision = self.policy.choose(self.client, self.now)
            lat = self.latency(decision.instance, self.now)
            done = self.now + (TIMEOUT_MS if lat is None else lat) / 1000.0
            self.policy.observe(self.client, decision.instance, lat, done)
            self.log.append((self.now, decision, lat))
            out.append(decision)
            self.now += self.dt
        return out


def models(spec: dict[str, Callable[[], float | None]]) -> LatencyFn:
    """A latency function from per-instance samplers (the dict may be mutated to change behaviour)."""
    return lambda instance, _now: spec[instance]()
