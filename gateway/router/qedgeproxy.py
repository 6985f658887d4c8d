"""QEdgeProxy v2 as a pure routing policy: KDE QoS pools, adaptive ε-exploration and SWRR.

Per client (a player of the multi-player bandit) and instance (an arm) the policy keeps a sliding
window W of end-to-end latencies; a failure or timeout is a miss (``inf``). From each window a Gaussian
KDE gives P̂(ℓ ≤ τ). For every decision:

1. instances with at least ``min-samples`` samples and P̂ ≥ ρ form the client's **QoS pool**;
2. cold start: while the pool is empty and some instance is unknown, the unknown one with the fewest
   samples (plus attempts in flight) is explored;
3. with probability ε the policy **explores** an instance outside the pool or a stale one (unknown
   first, then the one chosen longest ago);
4. otherwise **SWRR** dispatches over the pool with integer weights ∝ P̂ (or uniform, or ∝ 1/latency);
5. an empty pool falls back to the instance with the best estimate (**best-effort**).

ε adapts per client: a miss of pool traffic while the client's realised success over W is below ρ
raises ε to at least ``boost-on-shift``; an instance joining for the first time (leaving) raises
every client's ε to at least ``boost-on-join`` (``boost-on-leave``); an instance that *returns*
(an ejection expired, an mDNS flap) gets no join boost — it is explored at the clients' current ε
like any unknown arm, so a dead instance coming back every ejection period cannot make every client
explore again; every other observation decays ε geometrically towards ``eps-min``.
See ``docs/qedgeproxy.md`` for what is from the papers and what is assumed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from gateway.router.config import QosConfig, RouterConfig
from gateway.router.kde import LatencyEstimate, estimate
from gateway.router.policy import (
    REASONS,
    ClientEstimate,
    ClientView,
    Decision,
    InstanceInfo,
    InstanceSet,
    InstanceView,
    PolicySnapshot,
    Reason,
)
from gateway.router.swrr import SmoothWeightedRoundRobin, scale_weights
from gateway.router.window import SlidingWindow

_Estimates = dict[str, LatencyEstimate | None]  # None: fewer than min-samples samples ("unknown")


@dataclass
class _Arm:
    """What one client knows about one instance."""

    window: SlidingWindow
    cached: LatencyEstimate | None = None
    pending: int = 0  # attempts chosen and not yet observed
    last_chosen: float = -math.inf


@dataclass
class _Client:
    qos: QosConfig
    outcomes: SlidingWindow  # exploit outcomes within W: 1.0 within τ, 0.0 miss
    eps: float
    arms: dict[str, _Arm] = field(default_factory=dict)
    swrr: SmoothWeightedRoundRobin = field(default_factory=SmoothWeightedRoundRobin)
    pool: dict[str, int] = field(default_factory=dict)  # pool weights at the last decision
    decisions: dict[Reason, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))


class QEdgeProxyPolicy:
    """The QEdgeProxy v2 routing policy (see the module docstring)."""

    def __init__(self, config: RouterConfig, rng: random.Random) -> None:
        self._cfg = config
        self._rng = rng
        self._instances = InstanceSet()
        self._clients: dict[str, _Client] = {}
        self._seen: set[str] = set()  # every instance id ever installed (a returning one is not "new")
        self._now = -math.inf

    @property
    def name(self) -> str:
        return "qedgeproxy"

    # --- instance set ---------------------------------------------------------------------------

    def set_instances(self, instances: Iterable[InstanceInfo | str], now: float) -> None:
        """Install the instance set; forget removed instances; boost ε when it changed."""
        self._now = max(self._now, now)
        added, removed = self._instances.replace(instances)
        if not (added or removed):
            return
        ex = self._cfg.exploration
        first_time = [i for i in added if i not in self._seen]
        self._seen.update(added)
        boost = max(ex.boost_on_join if first_time else 0.0, ex.boost_on_leave if removed else 0.0)
        for st in self._clients.values():
            for gone in removed:
                st.arms.pop(gone, None)
            st.pool = {i: w for i, w in st.pool.items() if i in self._instances}
            st.swrr.set_weights(st.pool)
            st.eps = self._raise_eps(st.eps, boost)

    # --- decisions ------------------------------------------------------------------------------

    def choose(self, client: str, now: float, avoid: Collection[str] = ()) -> Decision:
        """Pick the instance for one attempt of ``client`` (raises NoInstancesError when none)."""
        self._now = max(self._now, now)
        candidates = self._instances.candidates(avoid)
        st = self._client(client)
        only = len(candidates) == 1
        decision = Decision(candidates[0], "only") if only else self._pick(st, candidates, now)
        arm = self._arm(st, decision.instance)
        arm.pending += 1
        arm.last_chosen = now
        st.decisions[decision.reason] += 1
        return decision

    def _pick(self, st: _Client, candidates: list[str], now: float) -> Decision:
        ests = self._estimates(st, now)
        st.pool = self._pool_weights(st, ests)
        usable = [i for i in st.pool if i in candidates]
        unknown = [i for i in candidates if ests[i] is None]
        if not usable and unknown:
            return Decision(self._explore_order(st, unknown, ests)[0], "explore")
        if self._rng.random() < st.eps:
            target = self._explore_target(st, candidates, ests, now)
            if target is not None:
                return Decision(target, "explore")
        if usable:
            st.swrr.set_weights(st.pool)
            chosen = st.swrr.next(exclude=[i for i in st.pool if i not in candidates])
            if chosen is not None:
                return Decision(chosen, "pool")
        return Decision(self._best(candidates, ests), "best-effort")

    def _explore_target(self, st: _Client, candidates: list[str], ests: _Estimates, now: float) -> str | None:
        stale_after = self._cfg.exploration.stale_after_s
        options = [
            i for i in candidates
            if i not in st.pool or _is_stale(st.arms[i].window.last_t, now, stale_after)
        ]
        return self._explore_order(st, options, ests)[0] if options else None

    def _explore_order(self, st: _Client, options: list[str], ests: _Estimates) -> list[str]:
        """Unknown instances first (fewest samples + attempts in flight), then least recently chosen."""

        def key(i: str) -> tuple[bool, int, float]:
            arm = st.arms[i]
            known = ests[i] is not None
            return known, 0 if known else len(arm.window) + arm.pending, arm.last_chosen

        return sorted(options, key=key)

    @staticmethod
    def _best(candidates: list[str], ests: _Estimates) -> str:
        """Highest P̂, then lowest expected latency, among known candidates (else the first)."""
        known = [(e.p_within, -e.expected_ms, -n, i)
                 for n, i in enumerate(candidates) if (e := ests[i]) is not None]
        return max(known)[3] if known else candidates[0]

    # --- observations ---------------------------------------------------------------------------

    def observe(self, client: str, instance: str, latency_ms: float | None, now: float) -> None:
        """Record one outcome; ``None`` (failure/timeout) and NaN are misses. Unknown instances are ignored."""
        if instance not in self._instances:
            return
        self._now = max(self._now, now)
        st = self._client(client)
        arm = self._arm(st, instance)
        arm.pending = max(0, arm.pending - 1)
        value = math.inf if latency_ms is None or math.isnan(latency_ms) else max(0.0, latency_ms)
        arm.window.add(now, value)
        arm.cached = None
        pooled = instance in st.pool
        ok = value <= st.qos.tau_ms
        if pooled or not st.pool:  # exploit traffic: what the client actually gets
            st.outcomes.add(now, 1.0 if ok else 0.0)
        self._update_eps(st, shift=pooled and not ok and self._violated(st, now))

    def _violated(self, st: _Client, now: float) -> bool:
        st.outcomes.prune(now)
        return len(st.outcomes) >= self._cfg.kde.min_samples and st.outcomes.mean() < st.qos.rho

    def _update_eps(self, st: _Client, *, shift: bool) -> None:
        ex = self._cfg.exploration
        if shift:
            st.eps = self._raise_eps(st.eps, ex.boost_on_shift)
        else:
            st.eps = max(ex.eps_min, st.eps * ex.decay)

    def _raise_eps(self, eps: float, boost: float) -> float:
        return min(self._cfg.exploration.eps_max, max(eps, boost))

    # --- estimates ------------------------------------------------------------------------------

    def estimate(self, client: str, now: float) -> ClientEstimate:
        """The exploit mix's expected latency and P̂(ℓ ≤ τ) for ``client`` (no state is created)."""
        qos = self._cfg.qos_for(client)
        st = self._clients.get(client)
        if st is None or not self._instances:
            eps = self._cfg.exploration.eps_initial if st is None else st.eps
            return ClientEstimate(math.inf, 0.0, (), eps, qos.tau_ms, 0)
        ests = self._estimates(st, now)
        pool = self._pool_weights(st, ests)
        mix = _mix(pool, ests) if pool else _best_mix(ests)
        samples = sum(len(st.arms[i].window) for i in self._instances.ids())
        return ClientEstimate(mix[0], mix[1], tuple(pool), st.eps, qos.tau_ms, samples)

    def _estimates(self, st: _Client, now: float) -> _Estimates:
        return {i: self._arm_estimate(st, self._arm(st, i), now) for i in self._instances.ids()}

    def _arm_estimate(self, st: _Client, arm: _Arm, now: float) -> LatencyEstimate | None:
        if arm.window.prune(now):
            arm.cached = None
        kde = self._cfg.kde
        if len(arm.window) < kde.min_samples:
            return None
        if arm.cached is None:
            arm.cached = estimate(arm.window.values(), st.qos.tau_ms, kde.bandwidth,
                                  fixed_ms=kde.fixed_bandwidth_ms, floor_ms=kde.min_bandwidth_ms)
        return arm.cached

    def _pool_weights(self, st: _Client, ests: _Estimates) -> dict[str, int]:
        pool_cfg = self._cfg.pool
        threshold = st.qos.rho if pool_cfg.admission_threshold is None else pool_cfg.admission_threshold
        members = {i: e for i, e in ests.items() if e is not None and e.p_within >= threshold}
        if pool_cfg.weighting == "uniform":
            raw = dict.fromkeys(members, 1.0)
        elif pool_cfg.weighting == "inverse-latency":
            raw = {i: 1.0 / max(e.expected_ms, self._cfg.kde.min_bandwidth_ms) for i, e in members.items()}
        else:
            raw = {i: e.p_within for i, e in members.items()}
        return scale_weights(raw, pool_cfg.weight_scale)

    # --- state ----------------------------------------------------------------------------------

    def _client(self, client: str) -> _Client:
        st = self._clients.get(client)
        if st is None:
            qos = self._cfg.qos_for(client)
            st = _Client(qos, SlidingWindow.from_config(qos.window), self._cfg.exploration.eps_initial)
            self._clients[client] = st
        return st

    def _arm(self, st: _Client, instance: str) -> _Arm:
        arm = st.arms.get(instance)
        if arm is None:
            window = SlidingWindow.from_config(st.qos.window, min_keep=self._cfg.kde.min_samples)
            arm = st.arms[instance] = _Arm(window)
        return arm

    def snapshot(self) -> PolicySnapshot:
        """Per-client pools, ε, success rates and per-instance estimates as of the last call."""
        return PolicySnapshot(self.name, self._instances.ids(),
                              clients=tuple(self._client_view(c, st) for c, st in self._clients.items()))

    def _client_view(self, client: str, st: _Client) -> ClientView:
        ests = self._estimates(st, self._now)
        stale_after = self._cfg.exploration.stale_after_s
        views = tuple(
            InstanceView(i, len(st.arms[i].window), e.p_within if e else 0.0, e.expected_ms if e else math.inf,
                         i in st.pool, st.pool.get(i, 0), _is_stale(st.arms[i].window.last_t, self._now, stale_after))
            for i, e in ests.items()
        )
        return ClientView(client, st.eps, st.outcomes.mean(), tuple(st.pool), views, dict(st.decisions))


def _is_stale(last_t: float | None, now: float, stale_after_s: float) -> bool:
    return last_t is None or now - last_t > stale_after_s


def _mix(pool: Mapping[str, int], ests: _Estimates) -> tuple[float, float]:
    """(expected ms, P̂) of the pool weighted as SWRR dispatches it."""
    total = sum(pool.values())
    parts = [(w / total, e) for i, w in pool.items() if (e := ests[i]) is not None]
    return sum(s * e.expected_ms for s, e in parts), sum(s * e.p_within for s, e in parts)


def _best_mix(ests: _Estimates) -> tuple[float, float]:
    known = [e for e in ests.values() if e is not None]
    if not known:
        return math.inf, 0.0
    best = max(known, key=lambda e: (e.p_within, -e.expected_ms))
    return best.expected_ms, best.p_within


__all__ = ["QEdgeProxyPolicy"]
