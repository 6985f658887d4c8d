"""Build a routing policy by name (the ``policy`` key of the router config, or a benchmark's choice)."""

from __future__ import annotations

import random
from collections.abc import Callable

from gateway._exceptions import UnknownPolicyError
from gateway.router.baselines import (
    LeastEwmaPolicy,
    PowerOfTwoEwmaPolicy,
    PowerOfTwoInFlightPolicy,
    ProximityPolicy,
    RandomPolicy,
    RoundRobinPolicy,
)
from gateway.router.config import RouterConfig
from gateway.router.outlier import EjectingPolicy
from gateway.router.policy import RoutingPolicy
from gateway.router.qedgeproxy import QEdgeProxyPolicy

PolicyFactory = Callable[[RouterConfig, random.Random], RoutingPolicy]

POLICIES: dict[str, PolicyFactory] = {
    "qedgeproxy": QEdgeProxyPolicy,
    "round-robin": RoundRobinPolicy,
    "random": RandomPolicy,
    "proximity": ProximityPolicy,
    "least-ewma": LeastEwmaPolicy,
    "p2c-ewma": PowerOfTwoEwmaPolicy,
    "p2c-inflight": PowerOfTwoInFlightPolicy,
}


def make_policy(config: RouterConfig, rng: random.Random, *, name: str | None = None,
                eject: bool | None = None) -> RoutingPolicy:
    """The policy ``name`` (default ``config.policy``), wrapped in outlier ejection when ``eject``.

    ``eject=None`` ejects for QEdgeProxy when ``config.outlier.enabled`` and never for the baselines,
    which model load balancers without outlier detection (Kubernetes Services, Proxy-mity).
    """
    chosen = config.policy if name is None else name
    factory = POLICIES.get(chosen)
    if factory is None:
        raise UnknownPolicyError(f"unknown routing policy {chosen!r} (known: {', '.join(POLICIES)})")
    policy = factory(config, rng)
    if eject is None:
        eject = chosen == "qedgeproxy" and config.outlier.enabled
    return EjectingPolicy(policy, config.outlier) if eject else policy


__all__ = ["POLICIES", "PolicyFactory", "make_policy"]
