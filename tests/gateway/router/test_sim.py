"""The simulator is deterministic and measures what it says; the reference kill scenario ranks policies."""

from __future__ import annotations

import random

import pytest

from gateway.router import RouterConfig, make_policy
from gateway.router.scenarios import KILLED, kill_report, kill_scenario, run_policy
from gateway.router.sim import Arrival, InstanceModel, Membership, Phase, Scenario, simulate


def tiny(**kw) -> Scenario:
    instances = (
        InstanceModel("fast", (Phase(0.0, 20.0, 2.0), Phase(5.0, None))),  # dies at t = 5 s
        InstanceModel("ok", (Phase(0.0, 50.0, 2.0),)),
    )
    arrivals = tuple(Arrival(0.05 * k, f"c{k % 2}") for k in range(200))
    defaults = {"warmup_s": 1.0, "event_s": 5.0, "rtt_ms": {("c0", "fast"): 1.0, ("c1", "fast"): 30.0}}
    return Scenario(("c0", "c1"), instances, arrivals, **{**defaults, **kw})


def run(name: str, scenario: Scenario, seed: int = 0):
    return simulate(make_policy(RouterConfig(), random.Random(seed), name=name), scenario, random.Random(seed))


def test_same_seed_same_result():
    assert run("qedgeproxy", tiny()).records == run("qedgeproxy", tiny()).records


def test_down_instance_fails_after_the_timeout_and_counts_as_a_miss():
    result = run("round-robin", tiny())
    dead = [r for r in result.records if r.instance == "fast" and r.t >= 5.0]
    assert dead and all(r.latency_ms is None for r in dead)
    alive = [r for r in result.records if r.instance == "fast" and r.t < 5.0]
    assert all(r.latency_ms is not None and r.latency_ms < 40 for r in alive)


def test_membership_changes_reach_the_policy():
    scenario = tiny(membership=(Membership(0.0, ("fast", "ok")), Membership(6.0, ("ok",))))
    result = run("round-robin", scenario)
    assert all(r.instance == "ok" for r in result.records if r.t >= 6.0)


def test_no_instances_is_a_failed_request_not_a_crash():
    scenario = tiny(membership=(Membership(0.0, ()),), event_s=None)
    result = run("qedgeproxy", scenario)
    assert result.success_fraction == 0.0
    assert {r.instance for r in result.records} == {None}


def test_per_client_satisfaction_and_recovery_are_computed():
    result = run("qedgeproxy", tiny())
    assert [c.client for c in result.clients] == ["c0", "c1"]
    assert all(c.requests == 90 for c in result.clients)  # 180 arrivals after the 1-s warm-up
    assert result.dip is not None and result.recovery_s is not None


def test_kill_scenario_shape():
    sc = kill_scenario(1)
    assert len(sc.clients) == 20 and len(sc.instances) == 6
    assert sc.membership[-1].t == 70.0 and KILLED not in sc.membership[-1].instances
    assert 11000 < len(sc.arrivals) < 13000


@pytest.fixture(scope="module")
def kill_results():
    sc = kill_scenario(1)
    return {name: run_policy(name, sc, 1) for name in ("qedgeproxy", "round-robin", "proximity")}


def test_qedgeproxy_satisfies_more_clients_than_round_robin_and_proximity(kill_results):
    q, rr, prox = (kill_results[n] for n in ("qedgeproxy", "round-robin", "proximity"))
    assert q.satisfied_fraction >= 0.9
    assert q.satisfied_fraction > rr.satisfied_fraction
    assert q.satisfied_fraction > prox.satisfied_fraction


def test_qedgeproxy_recovers_before_discovery_removes_the_dead_instance(kill_results):
    q, rr = kill_results["qedgeproxy"], kill_results["round-robin"]
    assert q.recovery_s is not None and q.recovery_s <= 3.0
    assert rr.recovery_s is None or rr.recovery_s >= 9.0  # round-robin waits for discovery (10 s)
    assert q.dip is not None and rr.dip is not None and q.dip > rr.dip


def test_qedgeproxy_spreads_load_over_pools(kill_results):
    q = kill_results["qedgeproxy"]
    pre_kill = [r.instance for r in q.records if 10.0 <= r.t < 60.0]
    busiest = max(pre_kill.count(i) for i in set(pre_kill)) / len(pre_kill)
    assert busiest < 0.45


def test_report_table_has_a_row_per_policy():
    table = kill_report(seeds=(1,), policies=("qedgeproxy", "round-robin"))
    lines = table.splitlines()
    assert lines[0].startswith("| policy |") and len(lines) == 4
