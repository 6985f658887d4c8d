"""Reference scenarios for :mod:`gateway.router.sim` (tests and benchmarks) and a report table.

``kill_scenario``: 20 clients in three zones, 6 instances (two per zone) of different speeds; RTT
3 ms within a zone, 15 ms to the neighbouring zone, 30 ms across, plus 0–6 ms per (client, instance).
Poisson arrivals per client. The fastest instance dies at ``kill_at_s`` (its requests time out) and
discovery removes it ``discovery_delay_s`` later. All numbers are assumptions chosen so that
proximity and round-robin are not trivially right; none comes from the QEdgeProxy papers.

Report (the table in ``docs/qedgeproxy.md``)::

    .venv/bin/python -c "from gateway.router.scenarios import kill_report; print(kill_report())"
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from gateway.router.config import RouterConfig
from gateway.router.factory import make_policy
from gateway.router.sim import Arrival, InstanceModel, Membership, Phase, Scenario, SimResult, simulate

ZONES = 3
ZONE_RTT_MS = (3.0, 15.0, 30.0)  # same zone, neighbouring zone, across
RTT_SPREAD_MS = 6.0
JITTER_FRACTION = 0.2  # processing-time standard deviation / mean
MS_PER_IN_FLIGHT = 1.0  # mild load sensitivity of every instance
# (instance, zone, mean processing ms): one fast and one slower instance per zone
INSTANCES: tuple[tuple[str, int, float], ...] = (
    ("a-fast", 0, 15.0), ("a-slow", 0, 60.0),
    ("b-fast", 1, 25.0), ("b-slow", 1, 95.0),
    ("c-fast", 2, 35.0), ("c-slow", 2, 50.0),
)
KILLED = "a-fast"
REPORT_POLICIES = ("qedgeproxy", "round-robin", "proximity", "random", "least-ewma", "p2c-ewma", "p2c-inflight")


def _zone_rtt(a: int, b: int) -> float:
    return ZONE_RTT_MS[min(abs(a - b), len(ZONE_RTT_MS) - 1)]


def _poisson(client: str, rate_per_s: float, duration_s: float, rng: random.Random) -> list[Arrival]:
    out, t = [], rng.expovariate(rate_per_s)
    while t < duration_s:
        out.append(Arrival(t, client))
        t += rng.expovariate(rate_per_s)
    return out


def _instance(name: str, service_ms: float, kill_at_s: float | None) -> InstanceModel:
    phases = [Phase(0.0, service_ms, JITTER_FRACTION * service_ms)]
    if kill_at_s is not None:
        phases.append(Phase(kill_at_s, None))
    return InstanceModel(name, tuple(phases), MS_PER_IN_FLIGHT)


def kill_scenario(seed: int, *, clients: int = 20, rate_per_client_s: float = 5.0, duration_s: float = 120.0,
                  kill_at_s: float = 60.0, discovery_delay_s: float = 10.0, warmup_s: float = 10.0) -> Scenario:
    """The 20 × 6 scenario with the fastest instance killed midway (see the module docstring)."""
    rng = random.Random(seed)
    names = tuple(f"client-{k:02d}" for k in range(clients))
    rtt = {
        (c, name): _zone_rtt(k % ZONES, zone) + rng.uniform(0.0, RTT_SPREAD_MS)
        for k, c in enumerate(names) for name, zone, _ in INSTANCES
    }
    arrivals = sorted((a for c in names for a in _poisson(c, rate_per_client_s, duration_s, rng)),
                      key=lambda a: a.t)
    models = tuple(_instance(n, ms, kill_at_s if n == KILLED else None) for n, _, ms in INSTANCES)
    every = tuple(n for n, _, _ in INSTANCES)
    membership = (Membership(0.0, every),
                  Membership(kill_at_s + discovery_delay_s, tuple(n for n in every if n != KILLED)))
    return Scenario(names, models, tuple(arrivals), membership, rtt, warmup_s=warmup_s, event_s=kill_at_s)


def run_policy(name: str, scenario: Scenario, seed: int, config: RouterConfig | None = None) -> SimResult:
    """Simulate one policy (built by :func:`make_policy`) on ``scenario``."""
    cfg = config or RouterConfig()
    cfg = replace(cfg, qos=replace(cfg.qos, tau_ms=scenario.tau_ms, rho=scenario.rho))
    policy = make_policy(cfg, random.Random(seed), name=name)
    return simulate(policy, scenario, random.Random(seed + 1))


def busiest_share(result: SimResult, scenario: Scenario) -> float:
    """Share of the requests between warm-up and the event that went to the busiest instance."""
    end = math.inf if scenario.event_s is None else scenario.event_s
    counts = Counter(r.instance for r in result.records if scenario.warmup_s <= r.t < end and r.instance)
    return max(counts.values()) / sum(counts.values()) if counts else math.nan


def _fmt(values: Sequence[float | None], spec: str, never: str = "never") -> str:
    known = [v for v in values if v is not None and not math.isnan(v)]
    if not known:
        return never
    text = format(statistics.mean(known), spec)
    return text if len(known) == len(values) else f"{text} ({len(values) - len(known)}× {never})"


def kill_report(seeds: Sequence[int] = (1, 2, 3), policies: Sequence[str] = REPORT_POLICIES) -> str:
    """Markdown table: mean over ``seeds`` of satisfied clients, success, dip and recovery per policy."""
    rows = ["| policy | satisfied clients | requests ≤ τ | worst 1-s bin after kill | recovery (s) "
            "| busiest instance before kill |",
            "|---|---|---|---|---|---|"]
    scenarios = [kill_scenario(s) for s in seeds]
    for name in policies:
        results = [run_policy(name, sc, s) for sc, s in zip(scenarios, seeds, strict=True)]
        rows.append(
            f"| {name} | {_fmt([r.satisfied_fraction for r in results], '.0%')} "
            f"| {_fmt([r.success_fraction for r in results], '.1%')} "
            f"| {_fmt([r.dip for r in results], '.0%')} | {_fmt([r.recovery_s for r in results], '.1f')} "
            f"| {_fmt([busiest_share(r, sc) for r, sc in zip(results, scenarios, strict=True)], '.0%')} |"
        )
    return "\n".join(rows)


__all__ = [
    "INSTANCES",
    "JITTER_FRACTION",
    "KILLED",
    "MS_PER_IN_FLIGHT",
    "REPORT_POLICIES",
    "RTT_SPREAD_MS",
    "ZONES",
    "ZONE_RTT_MS",
    "busiest_share",
    "kill_report",
    "kill_scenario",
    "run_policy",
]
