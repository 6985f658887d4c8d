"""Outlier ejection: consecutive failures eject, probes and time restore, the cap holds."""

from __future__ import annotations

import random

import pytest

from gateway.router import EjectingPolicy, OutlierDetector, RouterConfig, make_policy
from gateway.router.config import OutlierConfig

CFG = OutlierConfig(consecutive_failures=3, base_ejection_s=10.0, max_ejection_s=25.0,
                    max_ejection_percent=50.0, probe_interval_s=2.0)


def detector(ids=("a", "b", "c", "d")):
    det = OutlierDetector(CFG)
    det.set_instances(ids)
    return det


def fail(det, instance, n, now=0.0):
    return [det.record(instance, False, now) for _ in range(n)]


def test_consecutive_failures_eject_and_a_success_resets_the_count():
    det = detector()
    assert fail(det, "a", 2) == [False, False]
    det.record("a", True, 0.0)
    assert fail(det, "a", 2) == [False, False]
    assert det.ejected() == ()
    assert fail(det, "a", 1) == [True]
    assert det.ejected() == ("a",)


def test_ejection_time_grows_with_each_ejection_and_is_capped():
    det = detector()
    fail(det, "a", 3, now=0.0)
    assert not det.expire(9.9) and det.expire(10.0)  # base × 1
    fail(det, "a", 3, now=11.0)
    assert not det.expire(30.9) and det.expire(31.0)  # base × 2
    fail(det, "a", 3, now=32.0)
    assert not det.expire(56.9) and det.expire(57.0)  # base × 3 = 30 → capped at 25


def test_multiplier_decays_while_healthy():
    det = detector()
    fail(det, "a", 3, now=0.0)
    det.expire(10.0)
    det.record("a", True, 25.0)  # healthy for ≥ base since the change: multiplier 1 → 0
    fail(det, "a", 3, now=26.0)
    assert not det.expire(35.9) and det.expire(36.0)  # base × 1 again


def test_probe_is_due_every_interval_and_a_good_probe_restores():
    det = detector()
    fail(det, "a", 3, now=0.0)
    assert det.probe_due(1.9) is None
    assert det.probe_due(2.0) == "a"
    assert det.probe_due(2.5) is None  # next one scheduled at 4.0
    assert det.record("a", False, 2.1) is False  # a failed probe keeps it out
    assert det.probe_due(4.0) == "a"
    assert det.record("a", True, 4.1) is True
    assert det.ejected() == ()


@pytest.mark.parametrize(
    ("ids", "percent", "max_out"),
    [(("a", "b", "c", "d"), 50.0, 2), (("a", "b", "c", "d"), 10.0, 1), (("a", "b"), 100.0, 1),
     (("a",), 100.0, 0), (("a", "b", "c"), 0.0, 0)],
)
def test_ejection_cap(ids, percent, max_out):
    det = OutlierDetector(OutlierConfig(consecutive_failures=1, max_ejection_percent=percent))
    det.set_instances(ids)
    for i in ids:
        det.record(i, False, 0.0)
    assert len(det.ejected()) == max_out


def test_removed_instances_are_forgotten():
    det = detector()
    fail(det, "a", 3)
    det.set_instances(("b", "c"))
    assert det.ejected() == ()
    assert det.record("a", False, 1.0) is False


def test_wrapper_hides_ejected_instance_probes_it_and_brings_it_back():
    config = RouterConfig(outlier=CFG)
    policy = make_policy(config, random.Random(0), name="round-robin", eject=True)
    assert isinstance(policy, EjectingPolicy)
    policy.set_instances(["a", "b"], 0.0)
    for _ in range(3):
        policy.observe("c", "a", None, 0.0)
    assert policy.snapshot().ejected == ("a",)
    assert policy.snapshot().instances == ("a", "b")
    assert {policy.choose("c", 1.0).instance for _ in range(10)} == {"b"}
    probe = policy.choose("c", 2.0)
    assert (probe.instance, probe.reason) == ("a", "explore")
    policy.observe("c", "a", 12.0, 2.01)
    assert policy.snapshot().ejected == ()
    assert {policy.choose("c", 3.0).instance for _ in range(10)} == {"a", "b"}


def test_slow_replies_are_not_failures_for_ejection():
    det = detector()
    assert not any(det.record("a", True, float(k)) for k in range(10))
    policy = make_policy(RouterConfig(outlier=CFG), random.Random(0), name="qedgeproxy")
    policy.set_instances(["a", "b"], 0.0)
    for k in range(10):
        policy.observe("c", "a", 900.0, k * 0.1)
    assert policy.snapshot().ejected == ()
