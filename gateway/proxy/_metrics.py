"""Prometheus metrics of the router, in its own :class:`CollectorRegistry`.

Counters and histograms are updated as requests and attempts finish (on the loop). Gauges that
describe state (QoS satisfaction over W, pool sizes, ε, instance health) are set from the policy's
snapshot by :meth:`RouterMetrics.async_refresh` right before a scrape; :meth:`RouterMetrics.render`
reads ``/proc`` (process collector), so the handler calls it from a thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.process_collector import ProcessCollector

from gateway.proxy._forward import Attempt
from gateway.proxy._registry import Upstream
from gateway.router.config import RouterConfig
from gateway.router.policy import PolicySnapshot
from gateway.router.window import SlidingWindow

NAMESPACE = "aiotwin_router"
# End to end through the router: 1 ms … 5 s around the 80 ms offload SLO (router default τ).
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.08, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


class QosTracker:
    """Per client: was each answered request a reply within the client's τ? Kept over the client's W."""

    def __init__(self, config: RouterConfig) -> None:
        self._cfg = config
        self._windows: dict[str, SlidingWindow] = {}

    def record(self, client: str, within_tau: bool, now: float) -> None:
        window = self._windows.get(client)
        if window is None:
            window = self._windows[client] = SlidingWindow.from_config(self._cfg.qos_for(client).window)
        window.add(now, 1.0 if within_tau else 0.0)

    def satisfaction(self, client: str, now: float) -> float:
        """Fraction within τ over W; ``nan`` when the client has no request in W."""
        window = self._windows.get(client)
        if window is None:
            return math.nan
        window.prune(now)
        return window.mean()

    def clients(self) -> list[str]:
        return list(self._windows)


class RouterMetrics:
    """Every metric of one router (see ``docs/gateway-router.md`` for the list)."""

    def __init__(self, config: RouterConfig, registry: CollectorRegistry | None = None) -> None:
        self._cfg = config
        self.qos = QosTracker(config)
        self.registry = reg = registry or CollectorRegistry(auto_describe=True)
        ns = {"namespace": NAMESPACE, "registry": reg}
        self.requests = Counter("requests", "Routed requests by client and final HTTP status.", ["client", "code"],
                                **ns)
        self.misses = Counter("client_misses", "Requests that got no reply within the client's tau "
                              "(slow, failed or timed out; client errors excluded).", ["client"], **ns)
        self.latency = Histogram("request_latency_seconds", "Router time per request, retries included.",
                                 ["client"], buckets=LATENCY_BUCKETS_S, **ns)
        self.attempts = Counter("instance_attempts", "Attempts sent to each instance by outcome "
                                "(ok, rejected, failed, error, timeout).", ["instance", "outcome"], **ns)
        self.instance_misses = Counter("instance_misses", "Attempts to each instance that were no reply within "
                                       "the client's tau.", ["instance"], **ns)
        self.instance_latency = Histogram("instance_latency_seconds", "Send-to-answer time of attempts that got "
                                          "an HTTP answer.", ["instance"], buckets=LATENCY_BUCKETS_S, **ns)
        self.decisions = Counter("decisions", "Routing decisions by reason (pool, explore, best-effort, only).",
                                 ["reason"], **ns)
        self.retries = Counter("retries", "Retries sent to another instance (within the retry budget).", **ns)
        self.satisfaction = Gauge("qos_satisfaction", "Fraction of the client's requests answered within tau over "
                                  "the window W.", ["client"], **ns)
        self.pool_size = Gauge("qos_pool_size", "Instances in the client's QoS pool.", ["client"], **ns)
        self.epsilon = Gauge("exploration_epsilon", "The client's exploration probability.", ["client"], **ns)
        self.instances = Gauge("instances", "Known instances by state.", ["state"], **ns)
        self.instance_healthy = Gauge("instance_healthy", "1 while the instance is routable, 0 while ejected.",
                                      ["instance", "source"], **ns)
        self.budget_tokens = Gauge("retry_budget_tokens", "Retries the budget allows right now.", **ns)
        ProcessCollector(registry=reg)

    def _tau(self, client: str) -> float:
        return self._cfg.qos_for(client).tau_ms

    def observe_attempt(self, client: str, attempt: Attempt, retry: bool) -> None:
        self.attempts.labels(instance=attempt.instance, outcome=attempt.kind).inc()
        self.decisions.labels(reason=attempt.reason).inc()
        if retry:
            self.retries.inc()
        if attempt.status is not None:
            self.instance_latency.labels(instance=attempt.instance).observe(attempt.latency_ms / 1000.0)
        if attempt.kind != "rejected" and not (attempt.kind == "ok" and attempt.latency_ms <= self._tau(client)):
            self.instance_misses.labels(instance=attempt.instance).inc()

    def observe_request(self, client: str, status: int, elapsed_ms: float, now: float) -> None:
        """One finished request; client errors (4xx) count as requests but not towards QoS."""
        self.requests.labels(client=client, code=str(status)).inc()
        self.latency.labels(client=client).observe(elapsed_ms / 1000.0)
        if 400 <= status < 500:
            return
        within = 200 <= status < 300 and elapsed_ms <= self._tau(client)
        self.qos.record(client, within, now)
        if not within:
            self.misses.labels(client=client).inc()

    def async_refresh(self, snapshot: PolicySnapshot, upstreams: Iterable[Upstream], tokens: float,
                      now: float) -> None:
        """Set the state gauges from the policy's snapshot (call on the loop, before a scrape)."""
        ejected = set(snapshot.ejected)
        self.instance_healthy.clear()
        states = {"healthy": 0, "ejected": 0}
        for up in upstreams:
            out = up.instance_id in ejected
            states["ejected" if out else "healthy"] += 1
            self.instance_healthy.labels(instance=up.instance_id, source=up.source).set(0 if out else 1)
        for state, n in states.items():
            self.instances.labels(state=state).set(n)
        for view in snapshot.clients:
            self.pool_size.labels(client=view.client).set(len(view.pool))
            self.epsilon.labels(client=view.client).set(view.eps)
        for client in self.qos.clients():
            self.satisfaction.labels(client=client).set(self.qos.satisfaction(client, now))
        self.budget_tokens.set(tokens)

    def render(self) -> bytes:
        """The Prometheus text exposition (blocking: reads /proc; call from a thread)."""
        return bytes(generate_latest(self.registry))


__all__ = ["LATENCY_BUCKETS_S", "NAMESPACE", "QosTracker", "RouterMetrics"]
