"""QEdgeProxy behaviour, driven by a tiny sequential event loop with seeded latency draws."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import replace

import pytest

from gateway.router import QEdgeProxyPolicy, RouterConfig
from gateway.router.config import ClientClassConfig, ExplorationConfig, PoolConfig

from ._helpers import Loop, gaussian, models

WARMUP = 300


@pytest.fixture
def rng():
    return random.Random(7)


def three(rng, *, config=None):
    """fast ~20 ms, mid ~60 ms, slow ~150 ms for one client; τ = 80 ms."""
    policy = QEdgeProxyPolicy(config or RouterConfig(), random.Random(1))
    policy.set_instances(["fast", "mid", "slow"], 0.0)
    spec = {"fast": gaussian(20, 2, rng), "mid": gaussian(60, 5, rng), "slow": gaussian(150, 10, rng)}
    return policy, spec, Loop(policy, models(spec))


def test_cold_start_explores_every_unknown_instance_first(rng):
    _, _, loop = three(rng)
    first = loop.run(3)
    assert {d.instance for d in first} == {"fast", "mid", "slow"}
    assert {d.reason for d in first} == {"explore"}


def test_pool_gets_95_percent_spread_over_both_members_and_slow_is_still_explored(rng):
    policy, _, loop = three(rng)
    loop.run(WARMUP)
    decisions = loop.run(2000)
    share = Counter(d.instance for d in decisions)
    assert (share["fast"] + share["mid"]) / 2000 >= 0.95
    assert share["fast"] >= 0.3 * 2000 and share["mid"] >= 0.3 * 2000  # spread, not argmin
    assert 0 < share["slow"] <= 0.05 * 2000  # explored at a small rate
    assert {d.reason for d in decisions if d.instance == "slow"} == {"explore"}
    est = policy.estimate("cam-1", loop.now)
    assert set(est.pool) == {"fast", "mid"}
    assert est.p_within_tau > 0.99 and 30 < est.expected_ms < 50  # the pool mix, ~(20 + 60)/2
    assert est.eps == pytest.approx(0.02)


def test_moves_away_from_a_degraded_instance_within_a_few_requests(rng):
    policy, spec, loop = three(rng)
    loop.run(WARMUP)
    spec["fast"] = gaussian(200, 10, rng)
    after = loop.run(300)
    pooled_to_fast = [k for k, d in enumerate(after) if d.instance == "fast" and d.reason == "pool"]
    assert pooled_to_fast and max(pooled_to_fast) < 10  # out of the pool within 10 requests
    assert sum(d.instance == "fast" for d in after) <= 20  # afterwards only exploration
    assert Counter(d.instance for d in after[20:])["mid"] >= 0.9 * 280
    assert policy.estimate("cam-1", loop.now).pool == ("mid",)


def test_degradation_boosts_epsilon_which_then_decays(rng):
    policy, spec, loop = three(rng)
    loop.run(WARMUP)
    assert policy.estimate("cam-1", loop.now).eps == pytest.approx(0.02)
    spec["fast"] = gaussian(200, 10, rng)
    eps = []
    for _ in range(200):
        loop.run(1)
        eps.append(policy.estimate("cam-1", loop.now).eps)
    assert max(eps[:10]) == pytest.approx(0.25)  # boost on shift
    assert eps[-1] == pytest.approx(0.02)  # decayed back


def test_a_recovered_instance_is_rediscovered_by_exploration(rng):
    policy, spec, loop = three(rng)
    loop.run(WARMUP)
    spec["fast"] = gaussian(200, 10, rng)
    loop.run(300)
    spec["fast"] = gaussian(20, 2, rng)
    # ε = 0.02 shared by two outsiders: ~1 probe of "fast" per 100 requests, 5 good ones needed
    # after the bad samples age out (W = 30 s): a slow but bounded return
    loop.run(1500)
    assert "fast" in policy.estimate("cam-1", loop.now).pool


def test_failures_are_misses_never_fast_replies(rng):
    policy = QEdgeProxyPolicy(RouterConfig(), random.Random(1))
    policy.set_instances(["broken", "ok"], 0.0)
    spec = {"broken": lambda: None, "ok": gaussian(60, 5, rng)}
    loop = Loop(policy, models(spec))
    loop.run(WARMUP)
    decisions = loop.run(500)
    assert sum(d.instance == "broken" for d in decisions) <= 0.05 * 500
    view = next(v for v in policy.snapshot().clients[0].instances if v.instance == "broken")
    assert view.p_within_tau == 0.0 and view.expected_ms == math.inf and not view.in_pool


def test_fast_failures_do_not_look_fast():
    """Errors that return after 1 ms must not pull traffic (their latency is never recorded)."""
    policy = QEdgeProxyPolicy(RouterConfig(), random.Random(1))
    policy.set_instances(["a", "b"], 0.0)
    for k in range(20):
        policy.observe("c", "a", None, k * 0.01)
        policy.observe("c", "b", 70.0, k * 0.01)
    assert policy.estimate("c", 1.0).pool == ("b",)


def test_removed_instance_is_never_chosen_and_late_replies_are_ignored(rng):
    policy, _, loop = three(rng)
    loop.run(WARMUP)
    in_flight = policy.choose("cam-1", loop.now)
    policy.set_instances(["mid", "slow"], loop.now)
    policy.observe("cam-1", in_flight.instance, 20.0, loop.now + 0.02)  # late reply of a removed one
    after = loop.run(500)
    assert "fast" not in {d.instance for d in after}
    assert "fast" not in {v.instance for v in policy.snapshot().clients[0].instances}


def test_added_instance_is_explored_and_joins_the_pool(rng):
    policy, spec, loop = three(rng)
    loop.run(WARMUP)
    spec["new"] = gaussian(15, 2, rng)
    policy.set_instances(["fast", "mid", "slow", "new"], loop.now)
    assert policy.estimate("cam-1", loop.now).eps == pytest.approx(0.25)  # boost on join
    after = loop.run(200)
    assert after[:40].count(next(d for d in after if d.instance == "new")) >= 1
    assert "new" in policy.estimate("cam-1", loop.now).pool
    assert Counter(d.instance for d in after[100:])["new"] >= 25  # one of three equal pool members


def test_a_returning_instance_gets_no_join_boost(rng):
    config = RouterConfig()
    policy, _, loop = three(rng, config=replace(config, exploration=replace(config.exploration, boost_on_leave=0.0)))
    loop.run(WARMUP)
    policy.set_instances(["fast", "mid"], loop.now)  # "slow" ejected ...
    eps = policy.estimate("cam-1", loop.now).eps
    policy.set_instances(["fast", "mid", "slow"], loop.now)  # ... and its ejection expires
    assert policy.estimate("cam-1", loop.now).eps == pytest.approx(eps)
    policy.set_instances(["fast", "mid", "slow", "brand-new"], loop.now)
    assert policy.estimate("cam-1", loop.now).eps == pytest.approx(0.25)  # a first-time join still boosts


def test_empty_pool_falls_back_to_the_best_instance(rng):
    policy = QEdgeProxyPolicy(RouterConfig(), random.Random(1))
    policy.set_instances(["slow", "slower"], 0.0)
    loop = Loop(policy, models({"slow": gaussian(100, 5, rng), "slower": gaussian(200, 5, rng)}))
    loop.run(WARMUP)
    decisions = loop.run(500)
    assert Counter(d.reason for d in decisions)["best-effort"] >= 0.95 * 500  # no boost: nothing to find
    assert {d.instance for d in decisions if d.reason == "best-effort"} == {"slow"}
    assert policy.estimate("cam-1", loop.now).pool == ()


def test_client_class_override_gives_a_stricter_pool(rng):
    config = RouterConfig(classes={"drones": ClientClassConfig(clients=("drone-*",), tau_ms=40.0)})
    policy, spec, _ = three(rng, config=config)
    for client in ("drone-1", "cam-1"):
        Loop(policy, models(spec), client=client).run(WARMUP)
    assert policy.estimate("drone-1", 100.0).pool == ("fast",)
    assert policy.estimate("drone-1", 100.0).tau_ms == 40.0
    assert set(policy.estimate("cam-1", 100.0).pool) == {"fast", "mid"}


@pytest.mark.parametrize(
    ("weighting", "fast_share"),
    [("probability", (0.4, 0.6)), ("uniform", (0.4, 0.6)), ("inverse-latency", (0.65, 0.85))],
)
def test_pool_weighting_modes(rng, weighting, fast_share):
    config = replace(RouterConfig(), pool=PoolConfig(weighting=weighting),
                     exploration=ExplorationConfig(eps_min=0.0))  # explores while warming up only
    _, _, loop = three(rng, config=config)
    loop.run(WARMUP)
    pooled = [d for d in loop.run(1000) if d.reason == "pool"]
    share = sum(d.instance == "fast" for d in pooled) / len(pooled)
    assert fast_share[0] <= share <= fast_share[1]  # 1/20 : 1/60 → 0.75 with inverse latency


def test_snapshot_reports_pool_eps_and_decisions(rng):
    policy, _, loop = three(rng)
    loop.run(WARMUP)
    (client,) = policy.snapshot().clients
    assert client.client == "cam-1" and set(client.pool) == {"fast", "mid"}
    assert sum(client.decisions.values()) == WARMUP
    assert client.success_rate > 0.95
    weights = {v.instance: v.weight for v in client.instances}
    assert weights["slow"] == 0 and weights["fast"] > 0 and weights["mid"] > 0
