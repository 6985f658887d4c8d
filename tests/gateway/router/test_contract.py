"""Contract tests (STYLE rule 34): one abstract class, run against every routing policy."""

from __future__ import annotations

import math
import random

import pytest

from gateway import InvalidInstanceSet, NoInstancesError
from gateway.router import POLICIES, InstanceInfo, RouterConfig, RoutingPolicy, make_policy
from gateway.router.policy import REASONS

POOL = ("i0", "i1", "i2", "i3")
CLIENTS = ("c0", "c1")

_LATENCIES = (None, math.nan, 0.0, 5.0, 40.0, 79.9, 80.0, 150.0, 900.0)


def _random_ops(seed: int, n: int = 400) -> list[tuple]:
    """A seeded workload mixing instance-set changes, decisions and observations (incl. unknown ids)."""
    rng = random.Random(seed)
    ops: list[tuple] = []
    for _ in range(n):
        kind = rng.choices(("set", "choose", "observe"), weights=(1, 6, 6))[0]
        if kind == "set":
            ops.append(("set", rng.randint(1, 15)))
        elif kind == "choose":
            ops.append(("choose", rng.choice(CLIENTS)))
        else:
            ops.append(("observe", rng.choice(CLIENTS), rng.choice((*POOL, "ghost")), rng.choice(_LATENCIES)))
    return ops


def _subset(mask: int) -> list[str]:
    return [i for k, i in enumerate(POOL) if mask >> k & 1]


class PolicyContract:
    """Every policy: same interface, same guarantees."""

    policy_name: str
    eject: bool = False

    def make(self, seed: int = 0) -> RoutingPolicy:
        return make_policy(RouterConfig(), random.Random(seed), name=self.policy_name, eject=self.eject)

    def test_satisfies_protocol_and_has_a_name(self):
        policy = self.make()
        assert isinstance(policy, RoutingPolicy)
        assert policy.name == self.policy_name

    def test_empty_instance_set_raises_typed_error(self):
        policy = self.make()
        with pytest.raises(NoInstancesError):
            policy.choose("c0", 0.0)
        policy.set_instances(["a"], 0.0)
        policy.set_instances([], 1.0)
        with pytest.raises(NoInstancesError):
            policy.choose("c0", 2.0)

    @pytest.mark.parametrize("bad", [["a", "a"], [""], [InstanceInfo("a"), "a"]])
    def test_duplicate_or_empty_ids_raise(self, bad):
        with pytest.raises(InvalidInstanceSet):
            self.make().set_instances(bad, 0.0)

    def test_single_instance_is_only(self):
        policy = self.make()
        policy.set_instances(["solo"], 0.0)
        assert policy.choose("c0", 0.0).reason == "only"

    def test_observe_of_unknown_instance_is_ignored(self):
        policy = self.make()
        policy.set_instances(["a", "b"], 0.0)
        policy.observe("c0", "ghost", 5.0, 0.1)
        policy.observe("never-chose", "ghost", None, 0.2)
        assert "ghost" not in policy.snapshot().instances
        assert all(policy.choose("c0", 1.0 + k).instance in {"a", "b"} for k in range(20))

    def test_avoid_is_respected_while_something_else_is_left(self):
        policy = self.make()
        policy.set_instances(list(POOL), 0.0)
        for k in range(40):
            d = policy.choose("c0", k * 0.1, avoid={"i0", "i1"})
            assert d.instance in {"i2", "i3"}
            policy.observe("c0", d.instance, 10.0, k * 0.1 + 0.01)
        assert policy.choose("c0", 9.0, avoid=set(POOL)).instance in POOL  # all avoided → any

    def test_estimate_and_snapshot_are_plain_data(self):
        policy = self.make()
        assert policy.estimate("nobody", 0.0).samples == 0
        policy.set_instances(["a", "b"], 0.0)
        for k in range(20):
            d = policy.choose("c0", k * 0.1)
            policy.observe("c0", d.instance, 30.0, k * 0.1 + 0.03)
        est = policy.estimate("c0", 3.0)
        assert est.samples > 0 and 0.0 <= est.p_within_tau <= 1.0 and est.tau_ms == 80.0
        assert est.expected_ms == pytest.approx(30.0)
        snap = policy.snapshot()
        assert snap.instances == ("a", "b") and snap.policy == self.policy_name

    def test_same_seed_same_decisions(self):
        def run(seed: int) -> list[str]:
            policy = self.make(seed)
            policy.set_instances(list(POOL), 0.0)
            out = []
            for k in range(60):
                d = policy.choose(CLIENTS[k % 2], k * 0.05)
                policy.observe(CLIENTS[k % 2], d.instance, 10.0 + 30 * POOL.index(d.instance), k * 0.05 + 0.02)
                out.append(d.instance)
            return out

        assert run(3) == run(3)

    @pytest.mark.parametrize("seed", range(5))
    def test_never_returns_an_unknown_instance(self, seed):
        policy = self.make(seed)
        ops = _random_ops(seed)
        current = list(POOL)
        policy.set_instances(current, 0.0)
        for k, op in enumerate(ops):
            now = 0.01 * k
            if op[0] == "set":
                current = _subset(op[1])
                policy.set_instances(current, now)
            elif op[0] == "choose":
                d = policy.choose(op[1], now)
                assert d.instance in current and d.reason in REASONS
            else:
                policy.observe(op[1], op[2], op[3], now)


class TestQEdgeProxy(PolicyContract):
    policy_name = "qedgeproxy"


class TestQEdgeProxyWithEjection(PolicyContract):
    policy_name = "qedgeproxy"
    eject = True


class TestRoundRobin(PolicyContract):
    policy_name = "round-robin"


class TestRoundRobinWithEjection(PolicyContract):
    policy_name = "round-robin"
    eject = True


class TestRandom(PolicyContract):
    policy_name = "random"


class TestProximity(PolicyContract):
    policy_name = "proximity"


class TestLeastEwma(PolicyContract):
    policy_name = "least-ewma"


class TestP2cEwma(PolicyContract):
    policy_name = "p2c-ewma"


class TestP2cInFlight(PolicyContract):
    policy_name = "p2c-inflight"


def test_every_registered_policy_has_a_contract_class():
    covered = {c.policy_name for c in PolicyContract.__subclasses__()}
    assert covered == set(POLICIES)
