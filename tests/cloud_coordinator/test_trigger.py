"""The pure FL trigger policy: drift reports and a schedule → start a run or not (deterministic clock)."""

from __future__ import annotations

import pytest

from aiotwin.fl import FlConfigError
from cloud_coordinator.fl.trigger import DriftReport, TriggerPolicy, decide

H = 3600.0
POLICY = TriggerPolicy(min_cameras=2, window_s=6 * H, cooldown_s=24 * H)


def _r(cam: str, at: float, version: int = 5) -> DriftReport:
    return DriftReport(cam, version, 0.4, at)


@pytest.mark.parametrize(("reports", "kwargs", "start", "reason"), [
    ([_r("a", 96 * H), _r("b", 98 * H)], {}, True, "drift on 2 camera(s)"),
    ([_r("a", 96 * H), _r("a", 98 * H)], {}, False, "drift on 1 camera(s)"),  # one camera twice is one camera
    ([_r("a", 80 * H), _r("b", 98 * H)], {}, False, "drift on 1 camera(s)"),  # a is outside the window
    ([_r("a", 96 * H, 4), _r("b", 98 * H)], {}, False, "drift on 1 camera(s)"),  # a drifted on the old version
    ([_r("a", 96 * H), _r("b", 98 * H)], {"running": True}, False, "in progress"),
    ([_r("a", 96 * H), _r("b", 98 * H)], {"last_start": 80 * H}, False, "cooling down"),
    ([_r("a", 96 * H), _r("b", 98 * H)], {"last_start": None}, True, "drift"),
    ([_r("a", 101 * H)], {}, False, "drift on 0"),  # a report from the future is not counted
])
def test_decisions(reports, kwargs, start, reason):
    args = {"now": 100 * H, "version": 5, "last_start": 10 * H, "running": False, **kwargs}
    decision = decide(POLICY, reports, **args)
    assert decision.start is start and reason in decision.reason


def test_the_fleet_fraction_can_raise_the_bar():
    policy = TriggerPolicy(min_cameras=2, min_fraction=0.3, cooldown_s=0)
    reports = [_r(c, 99 * H) for c in "abc"]
    assert decide(policy, reports, now=100 * H, version=5, last_start=None, running=False, fleet_size=10).start
    later = decide(policy, reports, now=100 * H, version=5, last_start=None, running=False, fleet_size=20)
    assert not later.start and "needed 6" in later.reason
    assert later.cameras == ("a", "b", "c")


def test_a_schedule_starts_runs_without_drift():
    policy = TriggerPolicy(every_s=48 * H, cooldown_s=24 * H)
    assert not decide(policy, [], now=100 * H, version=5, last_start=60 * H, running=False).start
    assert decide(policy, [], now=110 * H, version=5, last_start=60 * H, running=False).reason == "scheduled"
    assert decide(policy, [], now=1.0, version=5, last_start=None, running=False).start


@pytest.mark.parametrize("kwargs", [{"min_cameras": 0}, {"min_cameras": True}, {"min_fraction": 1.5},
                                    {"window_s": -1}, {"cooldown_s": float("nan")}, {"every_s": "daily"}])
def test_bad_policies_are_refused(kwargs):
    with pytest.raises(FlConfigError):
        TriggerPolicy(**kwargs)
