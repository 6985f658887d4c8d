"""Each baseline does what its name says."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.router import InstanceInfo, RouterConfig, make_policy

from ._helpers import Loop, gaussian, models


def make(name, instances=("a", "b", "c"), seed=0):
    policy = make_policy(RouterConfig(), random.Random(seed), name=name)
    policy.set_instances(list(instances), 0.0)
    return policy


def test_round_robin_cycles_in_order_across_clients():
    policy = make("round-robin")
    picks = [policy.choose(f"c{k % 2}", 0.0).instance for k in range(6)]
    assert picks == ["a", "b", "c", "a", "b", "c"]


def test_random_is_roughly_uniform_and_seeded():
    policy = make("random", seed=3)
    picks = [policy.choose("c", 0.0).instance for _ in range(3000)]
    assert all(900 <= n <= 1100 for n in Counter(picks).values())
    again = make("random", seed=3)
    assert [again.choose("c", 0.0).instance for _ in range(50)] == picks[:50]


def test_proximity_picks_the_lowest_rtt_per_client():
    policy = make_policy(RouterConfig(), random.Random(0), name="proximity")
    policy.set_instances([
        InstanceInfo("near-for-x", base_rtt_ms=5.0, client_rtt_ms={"y": 40.0}),
        InstanceInfo("near-for-y", base_rtt_ms=30.0, client_rtt_ms={"y": 2.0}),
        InstanceInfo("unknown-rtt"),
    ], 0.0)
    assert {policy.choose("x", 0.0).instance for _ in range(10)} == {"near-for-x"}
    assert {policy.choose("y", 0.0).instance for _ in range(10)} == {"near-for-y"}


def test_least_ewma_tries_unknown_then_sticks_to_the_fastest():
    rng = random.Random(1)
    policy = make("least-ewma")
    loop = Loop(policy, models({"a": gaussian(50, 2, rng), "b": gaussian(20, 2, rng), "c": gaussian(90, 2, rng)}))
    first = loop.run(3)
    assert {d.instance for d in first} == {"a", "b", "c"}
    assert Counter(d.instance for d in loop.run(200))["b"] == 200  # argmin: no spreading


def test_least_ewma_counts_a_failure_as_slow():
    policy = make("least-ewma", instances=("broken", "ok"))
    policy.observe("c", "broken", None, 0.0)
    policy.observe("c", "ok", 300.0, 0.0)
    assert policy.choose("c", 1.0).instance == "ok"  # 300 < failure-latency-ms 1000


def _load_p2c(name):
    """a is best (EWMA 10 ms / nothing in flight), b middling, c worst."""
    policy = make(name, seed=5)
    if name == "p2c-ewma":
        for inst, lat in (("a", 10.0), ("b", 50.0), ("c", 90.0)):
            policy.observe("cl", inst, lat, 0.0)
    else:
        for avoid in ({"a", "c"}, {"a", "b"}, {"a", "b"}):  # in flight: b 1, c 2 (never observed)
            policy.choose("other", 0.0, avoid=avoid)
    return policy


@pytest.mark.parametrize("name", ["p2c-ewma", "p2c-inflight"])
def test_power_of_two_never_picks_the_worst_of_three(name):
    policy = _load_p2c(name)
    picks = Counter()
    for _ in range(300):
        d = policy.choose("cl", 0.0)
        picks[d.instance] += 1
        if name == "p2c-inflight":
            policy.observe("other", d.instance, 10.0, 0.0)  # completes: in-flight counts stay as set up
    assert picks["c"] == 0  # it loses every pair it is in
    assert 150 <= picks["a"] <= 250 and picks["b"] > 0  # a wins 2 of 3 pairs
