"""Outlier ejection: instances that fail consecutively are taken out of rotation for a while.

Modelled on Envoy's outlier detection (consecutive failures → ejection for ``base × n`` where n counts
this instance's ejections, capped; at most ``max-ejection-percent`` of the instances out at once) and
QEdgeProxy v1's linear cooldown. While ejected, an instance receives one half-open **probe** every
``probe-interval-s``; a successful probe (or the end of the ejection time) brings it back. The
multiplier n decays by one for every ``base-ejection-s`` the instance stays healthy.

Only failures (``latency_ms is None``: transport error or timeout) count here; a slow reply is a QoS
matter for the policy, not a health one. :class:`EjectingPolicy` wraps any routing policy and shows
it only the healthy instances, so ejection composes with QEdgeProxy and the baselines alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from gateway.router.config import OutlierConfig
from gateway.router.policy import (
    ClientEstimate,
    Decision,
    InstanceInfo,
    InstanceSet,
    PolicySnapshot,
    RoutingPolicy,
    as_info,
)


@dataclass
class _Health:
    consecutive: int = 0
    ejections: int = 0  # the ejection-time multiplier
    ejected_until: float | None = None
    next_probe: float = math.inf
    last_change: float = -math.inf


class OutlierDetector:
    """Pure ejection bookkeeping over instance ids; every call takes ``now``."""

    def __init__(self, config: OutlierConfig) -> None:
        self._cfg = config
        self._health: dict[str, _Health] = {}

    def set_instances(self, ids: Iterable[str]) -> None:
        """Track exactly ``ids``; removed instances are forgotten, new ones start healthy."""
        self._health = {i: self._health.get(i) or _Health() for i in ids}

    def record(self, instance: str, ok: bool, now: float) -> bool:
        """Record one outcome; return whether the instance's ejection state changed."""
        health = self._health.get(instance)
        if health is None:
            return False
        if ok:
            return self._success(health, now)
        health.consecutive += 1
        if health.ejected_until is None and health.consecutive >= self._cfg.consecutive_failures:
            return self._eject(health, now)
        return False

    def _success(self, health: _Health, now: float) -> bool:
        health.consecutive = 0
        if health.ejected_until is not None:
            self._restore(health, now)
            return True
        if health.ejections and now - health.last_change >= self._cfg.base_ejection_s:
            health.ejections -= 1
            health.last_change = now
        return False

    def _eject(self, health: _Health, now: float) -> bool:
        if len(self.ejected()) >= self._cap():
            return False
        health.ejections += 1
        duration = min(self._cfg.max_ejection_s, self._cfg.base_ejection_s * health.ejections)
        health.ejected_until = now + duration
        health.next_probe = now + self._cfg.probe_interval_s
        health.consecutive = 0
        health.last_change = now
        return True

    @staticmethod
    def _restore(health: _Health, now: float) -> None:
        health.ejected_until = None
        health.next_probe = math.inf
        health.last_change = now

    def _cap(self) -> int:
        """Most instances ejected at once: the percentage, at least one, never all."""
        n = len(self._health)
        if n < 2 or self._cfg.max_ejection_percent <= 0:
            return 0
        return min(n - 1, max(1, math.floor(n * self._cfg.max_ejection_percent / 100.0)))

    def expire(self, now: float) -> bool:
        """End ejections whose time is up; return whether any did."""
        due = [h for h in self._health.values() if h.ejected_until is not None and h.ejected_until <= now]
        for health in due:
            self._restore(health, now)
        return bool(due)

    def ejected(self) -> tuple[str, ...]:
        return tuple(i for i, h in self._health.items() if h.ejected_until is not None)

    def probe_due(self, now: float, avoid: Collection[str] = ()) -> str | None:
        """An ejected instance due for a probe (its next probe is then scheduled), or ``None``."""
        for instance, health in self._health.items():
            if health.ejected_until is not None and health.next_probe <= now and instance not in avoid:
                health.next_probe = now + self._cfg.probe_interval_s
                return instance
        return None


class EjectingPolicy:
    """A routing policy that hides ejected instances from ``inner`` and probes them half-open."""

    def __init__(self, inner: RoutingPolicy, config: OutlierConfig) -> None:
        self._inner = inner
        self._detector = OutlierDetector(config)
        self._all: list[InstanceInfo] = []
        self._pushed: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self._inner.name

    def set_instances(self, instances: Iterable[InstanceInfo | str], now: float) -> None:
        infos = [as_info(i) for i in instances]
        InstanceSet().replace(infos)  # validate before any state changes (raises InvalidInstanceSet)
        self._all = infos
        self._detector.set_instances(i.instance_id for i in self._all)
        self._pushed = None
        self._sync(now)

    def _sync(self, now: float) -> None:
        ejected = set(self._detector.ejected())
        healthy = [i for i in self._all if i.instance_id not in ejected]
        ids = tuple(i.instance_id for i in healthy)
        if ids != self._pushed:
            self._inner.set_instances(healthy, now)
            self._pushed = ids

    def choose(self, client: str, now: float, avoid: Collection[str] = ()) -> Decision:
        if self._detector.expire(now):
            self._sync(now)
        probe = self._detector.probe_due(now, avoid)
        if probe is not None:
            return Decision(probe, "explore")
        return self._inner.choose(client, now, avoid)

    def observe(self, client: str, instance: str, latency_ms: float | None, now: float) -> None:
        if self._detector.record(instance, latency_ms is not None, now):
            self._sync(now)
        self._inner.observe(client, instance, latency_ms, now)

    def estimate(self, client: str, now: float) -> ClientEstimate:
        return self._inner.estimate(client, now)

    def snapshot(self) -> PolicySnapshot:
        inner = self._inner.snapshot()
        ids = tuple(i.instance_id for i in self._all)
        return dataclasses.replace(inner, instances=ids, ejected=self._detector.ejected())


__all__ = ["EjectingPolicy", "OutlierDetector"]
