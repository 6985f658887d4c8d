"""Baseline routing policies for benchmarks, behind the same :class:`RoutingPolicy` interface.

- ``round-robin``: one rotation over the instances, shared by all clients (kube-proxy IPVS ``rr``);
- ``random``: uniform choice (kube-proxy iptables mode);
- ``proximity``: the lowest base RTT for the client (``InstanceInfo.rtt_for``), as Proxy-mity's
  nearest-first idea, ignoring processing time;
- ``least-ewma``: the lowest EWMA of this client's latencies per instance (never-tried instances first;
  a failure counts as ``failure-latency-ms``);
- ``p2c-ewma`` / ``p2c-inflight``: power of two choices: two distinct random instances, the one with
  the lower EWMA (per client) or fewer requests in flight (per instance) wins.

Baselines report reason ``"pool"`` for a normal dispatch (all instances are their pool) and ``"only"``
when a single instance is left. Their ``estimate()`` is the KDE of what the client has experienced
under the policy in the last W.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable
from typing import ClassVar

from gateway.router.config import RouterConfig
from gateway.router.kde import estimate
from gateway.router.policy import (
    REASONS,
    ClientEstimate,
    ClientView,
    Decision,
    InstanceInfo,
    InstanceSet,
    PolicySnapshot,
    Reason,
)
from gateway.router.window import SlidingWindow


class _BaselinePolicy:
    """Instance set, in-flight counts, per-client experience and metrics shared by the baselines."""

    NAME: ClassVar[str] = "baseline"

    def __init__(self, config: RouterConfig, rng: random.Random) -> None:
        self._cfg = config
        self._rng = rng
        self._instances = InstanceSet()
        self._in_flight: dict[str, int] = {}
        self._experience: dict[str, SlidingWindow] = {}
        self._decisions: dict[str, dict[Reason, int]] = {}
        self._ewma: dict[tuple[str, str], float] = {}

    @property
    def name(self) -> str:
        return self.NAME

    def set_instances(self, instances: Iterable[InstanceInfo | str], now: float) -> None:
        self._instances.replace(instances)
        self._in_flight = {i: self._in_flight.get(i, 0) for i in self._instances.ids()}
        self._ewma = {k: v for k, v in self._ewma.items() if k[1] in self._instances}

    def choose(self, client: str, now: float, avoid: Collection[str] = ()) -> Decision:
        candidates = self._instances.candidates(avoid)
        if len(candidates) == 1:
            decision = Decision(candidates[0], "only")
        else:
            decision = Decision(self._select(client, candidates), "pool")
        self._in_flight[decision.instance] += 1
        counts = self._decisions.setdefault(client, dict.fromkeys(REASONS, 0))
        counts[decision.reason] += 1
        return decision

    def _select(self, client: str, candidates: list[str]) -> str:
        raise NotImplementedError

    def observe(self, client: str, instance: str, latency_ms: float | None, now: float) -> None:
        if instance not in self._instances:
            return
        self._in_flight[instance] = max(0, self._in_flight[instance] - 1)
        value = math.inf if latency_ms is None or math.isnan(latency_ms) else max(0.0, latency_ms)
        self._window(client).add(now, value)
        sample = self._cfg.baselines.failure_latency_ms if math.isinf(value) else value
        old = self._ewma.get((client, instance))
        alpha = self._cfg.baselines.ewma_alpha
        self._ewma[(client, instance)] = sample if old is None else alpha * sample + (1 - alpha) * old

    def _window(self, client: str) -> SlidingWindow:
        window = self._experience.get(client)
        if window is None:
            window = self._experience[client] = SlidingWindow.from_config(self._cfg.qos_for(client).window)
        return window

    def estimate(self, client: str, now: float) -> ClientEstimate:
        qos = self._cfg.qos_for(client)
        window = self._experience.get(client)
        pool = self._instances.ids()
        if window is not None:
            window.prune(now)
        if window is None or not len(window):
            return ClientEstimate(math.inf, 0.0, pool, 0.0, qos.tau_ms, 0)
        kde = self._cfg.kde
        est = estimate(window.values(), qos.tau_ms, kde.bandwidth,
                       fixed_ms=kde.fixed_bandwidth_ms, floor_ms=kde.min_bandwidth_ms)
        return ClientEstimate(est.expected_ms, est.p_within, pool, 0.0, qos.tau_ms, est.samples)

    def snapshot(self) -> PolicySnapshot:
        clients = tuple(
            ClientView(c, 0.0, self._success(c), self._instances.ids(), (), dict(counts))
            for c, counts in self._decisions.items()
        )
        return PolicySnapshot(self.name, self._instances.ids(), clients=clients, in_flight=dict(self._in_flight))

    def _success(self, client: str) -> float:
        window = self._experience.get(client)
        if window is None or not len(window):
            return math.nan
        tau = self._cfg.qos_for(client).tau_ms
        return sum(v <= tau for v in window.values()) / len(window)

    def _ewma_of(self, client: str, instance: str) -> float:
        return self._ewma.get((client, instance), 0.0)  # never tried: 0, so it is tried first


class RoundRobinPolicy(_BaselinePolicy):
    NAME = "round-robin"

    def __init__(self, config: RouterConfig, rng: random.Random) -> None:
        super().__init__(config, rng)
        self._cursor = 0

    def _select(self, client: str, candidates: list[str]) -> str:
        chosen = candidates[self._cursor % len(candidates)]
        self._cursor += 1
        return chosen


class RandomPolicy(_BaselinePolicy):
    NAME = "random"

    def _select(self, client: str, candidates: list[str]) -> str:
        return self._rng.choice(candidates)


class ProximityPolicy(_BaselinePolicy):
    NAME = "proximity"

    def _select(self, client: str, candidates: list[str]) -> str:
        return min(candidates, key=lambda i: self._instances.info(i).rtt_for(client))


class LeastEwmaPolicy(_BaselinePolicy):
    NAME = "least-ewma"

    def _select(self, client: str, candidates: list[str]) -> str:
        return min(candidates, key=lambda i: self._ewma_of(client, i))


class PowerOfTwoEwmaPolicy(_BaselinePolicy):
    NAME = "p2c-ewma"

    def _select(self, client: str, candidates: list[str]) -> str:
        a, b = self._rng.sample(candidates, 2)
        return a if self._ewma_of(client, a) <= self._ewma_of(client, b) else b


class PowerOfTwoInFlightPolicy(_BaselinePolicy):
    NAME = "p2c-inflight"

    def _select(self, client: str, candidates: list[str]) -> str:
        a, b = self._rng.sample(candidates, 2)
        return a if self._in_flight[a] <= self._in_flight[b] else b


__all__ = [
    "LeastEwmaPolicy",
    "PowerOfTwoEwmaPolicy",
    "PowerOfTwoInFlightPolicy",
    "ProximityPolicy",
    "RandomPolicy",
    "RoundRobinPolicy",
]
