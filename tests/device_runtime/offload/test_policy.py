"""The joint-inference decision, table-driven (pure: no clock, no network)."""

from __future__ import annotations

import pytest

from device_runtime.offload.policy import Ask, OffloadLimits, QosEstimate, Verdict, decide

LIMITS = OffloadLimits(threshold=0.6, budget_ms=80.0, min_p=0.95, max_age_s=10.0, max_inflight=2)
GOOD = QosEstimate(expected_ms=30.0, p_within=0.99, tau_ms=80.0, fetched_at=100.0)


def ask(**kw: object) -> Ask:
    base: dict[str, object] = {"confidence": 0.4, "answered": False, "inflight": 0, "crop_bytes": 3000,
                               "bytes_available": 1e6, "now": 101.0, "last_probe": 100.0}
    base.update(kw)
    return Ask(**base)  # type: ignore[arg-type]


CASES = [
    ("unsure, good estimate", ask(), GOOD, Verdict.OFFLOAD),
    ("confident", ask(confidence=0.9), GOOD, Verdict.CONFIDENT),
    ("exactly the threshold is confident", ask(confidence=0.6), GOOD, Verdict.CONFIDENT),
    ("already answered", ask(answered=True), GOOD, Verdict.ANSWERED),
    ("no estimate yet", ask(), None, Verdict.NO_ESTIMATE),
    ("estimate too old", ask(now=111.0), GOOD, Verdict.STALE),
    ("expected latency over budget", ask(), QosEstimate(95.0, 0.99, 80.0, 100.0), Verdict.TOO_SLOW),
    ("P(<=tau) too low", ask(), QosEstimate(40.0, 0.80, 80.0, 100.0), Verdict.UNLIKELY),
    ("tau beyond the budget: P is not about our budget", ask(), QosEstimate(40.0, 0.5, 200.0, 100.0), Verdict.OFFLOAD),
    ("too many in flight", ask(inflight=2), GOOD, Verdict.BUSY),
    ("byte budget exhausted", ask(bytes_available=2000), GOOD, Verdict.BYTES),
    ("new client: probe", ask(last_probe=90.0), QosEstimate(float("inf"), 0.0, 80.0, 100.0, observations=0),
     Verdict.PROBE),
    ("over budget, but a probe is due", ask(last_probe=90.0), QosEstimate(95.0, 0.99, 80.0, 100.0), Verdict.PROBE),
    ("unlikely, but a probe is due", ask(last_probe=90.0), QosEstimate(40.0, 0.80, 80.0, 100.0), Verdict.PROBE),
    ("probe due, but too many in flight", ask(last_probe=90.0, inflight=2), QosEstimate(95.0, 0.99, 80.0, 100.0),
     Verdict.TOO_SLOW),
    ("no router reply for long: no probe", ask(last_probe=0.0, now=111.0), GOOD, Verdict.STALE),
    ("new client, probed just now", ask(last_probe=99.0), QosEstimate(float("inf"), 0.0, 80.0, 100.0, 0),
     Verdict.NO_ESTIMATE),
    ("new client, probe over the byte budget", ask(bytes_available=10, last_probe=90.0),
     QosEstimate(float("inf"), 0.0, 80.0, 100.0, 0), Verdict.NO_ESTIMATE),
    ("failing router: expected latency infinite", ask(), QosEstimate(float("inf"), 0.0, 80.0, 100.0, 12),
     Verdict.TOO_SLOW),
]


@pytest.mark.parametrize(("name", "situation", "estimate", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide(name: str, situation: Ask, estimate: QosEstimate | None, expected: Verdict) -> None:
    assert decide(situation, estimate, LIMITS) is expected, name


def test_only_unsure_crops_that_could_not_be_asked_become_samples() -> None:
    keep = {v for v in Verdict if v.keeps_sample}
    assert keep == {Verdict.NO_ESTIMATE, Verdict.STALE, Verdict.TOO_SLOW, Verdict.UNLIKELY, Verdict.BUSY,
                    Verdict.BYTES}


@pytest.mark.parametrize("bad", [{"threshold": 1.5}, {"budget_ms": 0}, {"min_p": -0.1}, {"max_inflight": 0}])
def test_bad_limits_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="bad offload limits"):
        OffloadLimits(**bad)  # type: ignore[arg-type]


def test_bad_estimates_are_refused() -> None:
    with pytest.raises(ValueError, match="bad QoS estimate"):
        QosEstimate(expected_ms=10.0, p_within=1.2, tau_ms=80.0, fetched_at=0.0)
