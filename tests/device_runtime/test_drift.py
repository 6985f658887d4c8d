"""The drift detector: divergences, reference, sliding window, episodes (hysteresis + cooldown), storage."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

from aiotwin.wire import decode_event, encode_event
from device_runtime.drift import (
    DriftDetector,
    DriftParams,
    Reference,
    confidence_bin,
    js,
    load_reference,
    psi,
    reference_from_json,
    save_reference,
    shares,
    stored_detector,
)

SURE_CARS = [(0, 0.95)] * 10  # class 0, confidence bin 9
SURE_BUSES = [(1, 0.95)] * 10  # class 1: the classes moved
UNSURE_CARS = [(0, 0.35)] * 10  # confidence bin 3: the confidences moved
UNSURE_BUSES = [(1, 0.35)] * 10  # both moved
MIX = [(0, 0.95), (1, 0.85)] * 5


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def params(**kw) -> DriftParams:
    base = {"n_classes": 3, "reference": 20, "window": 10, "threshold": 0.25, "clear_ratio": 0.5,
            "cooldown_s": 100.0, "confidence_bins": 10}
    return DriftParams(**{**base, **kw})


# -- pure functions -------------------------------------------------------------------------------

def test_divergences() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0 and js([0.2, 0.8], [0.2, 0.8]) == 0.0
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.4 * math.log(1.8) + 0.4 * math.log(5))
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(psi([0.9, 0.1], [0.5, 0.5]))  # symmetric
    assert js([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.log(2))  # its bound, disjoint supports
    assert shares([0, 3]) == [0.5 / 4, 3.5 / 4]  # smoothed: an empty bin stays finite


@pytest.mark.parametrize(("confidence", "expected"), [
    (0.0, 0), (0.05, 0), (0.1, 1), (0.55, 5), (0.999, 9), (1.0, 9), (-0.1, 0), (1.5, 9), (math.nan, 0),
])
def test_confidence_bins(confidence: float, expected: int) -> None:
    assert confidence_bin(confidence, 10) == expected


# -- the detector, table-driven -------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    predictions: list[tuple[int, float]]
    at: float = 0.0
    expect: str | None = None  # the distribution a report names, None: no report
    version: int = 1


SCENARIOS = {
    "stable traffic is not drift": [Step(MIX), Step(MIX), Step(MIX), Step(MIX)],
    "the classes move": [Step(SURE_CARS * 2), Step(SURE_BUSES, expect="classes")],
    "the confidences move": [Step(SURE_CARS * 2), Step(UNSURE_CARS, expect="confidence")],
    "both move": [Step(SURE_CARS * 2), Step(UNSURE_BUSES, expect="both")],
    "nothing before the window is full": [Step(SURE_CARS * 2), Step(SURE_BUSES[:9]),
                                          Step(SURE_BUSES[:1], expect="classes")],
    "once per episode": [Step(SURE_CARS * 2), Step(SURE_BUSES, expect="classes"), Step(SURE_BUSES, at=500),
                         Step(UNSURE_BUSES, at=600)],
    "a second episode within the cooldown waits for it": [
        Step(SURE_CARS * 2), Step(SURE_BUSES, at=0, expect="classes"),
        Step(SURE_CARS, at=10),  # back to the reference: the episode ends
        Step(SURE_BUSES, at=50),  # drifted again, 50 s after the report: cooling down
        Step(SURE_BUSES[:1], at=99),
        Step(SURE_BUSES[:1], at=100, expect="classes")],
    "hysteresis: hovering above threshold × clear-ratio keeps the episode": [
        Step(SURE_CARS * 2), Step(SURE_BUSES, expect="classes"),
        Step(SURE_CARS[:8], at=200),  # 2 buses of 10 left: still above 0.125
        Step(SURE_BUSES[:2], at=300)],  # more than the threshold again: the same episode
    "a new model version takes a new reference": [
        Step(SURE_CARS * 2), Step(SURE_BUSES, expect="classes"),
        Step(SURE_BUSES * 2, at=1000, version=2), Step(SURE_BUSES, at=1000, version=2)],
}


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_detector_scenarios(steps: list[Step]) -> None:
    clock = Clock()
    det = DriftDetector(params(), clock=clock)
    got = []
    for step in steps:
        clock.now = step.at
        report = det.update(step.predictions, step.version)
        got.append(None if report is None else report.distribution)
    assert got == [s.expect for s in steps]


def test_a_report_carries_what_a_trigger_policy_needs() -> None:
    det = DriftDetector(params(metric="js"), clock=Clock())
    det.update(SURE_CARS * 2, 7)
    report = det.update(SURE_BUSES, 7)
    assert report is not None and det.active
    assert (report.model_version, report.metric, report.threshold) == (7, "js", 0.25)
    assert (report.reference_size, report.window_size) == (20, 10)
    assert report.divergence == report.class_divergence > 0.25 > report.confidence_divergence
    assert det.divergences == (report.class_divergence, report.confidence_divergence)
    event = report.event("north-1")
    assert decode_event(encode_event(event)) == event
    assert (event.camera_id, event.kind, event.distribution) == ("north-1", "drift", "classes")


def test_unknown_classes_are_ignored() -> None:
    det = DriftDetector(params(), clock=Clock())
    det.update([(5, 0.9), (-1, 0.9)] * 20, 1)
    assert det.reference is None


# -- the stored reference -------------------------------------------------------------------------

def test_the_reference_is_stored_once_complete_and_used_after_a_restart(tmp_path) -> None:
    path = tmp_path / "drift" / "cam.json"
    det = stored_detector(params(), path, clock=Clock())
    det.update(SURE_CARS, 3)
    assert not path.exists()
    det.update(SURE_CARS, 3)
    assert load_reference(path) == Reference(3, (20, 0, 0), (0,) * 9 + (20,))
    again = stored_detector(params(), path, clock=Clock())  # after a restart, in drifted conditions
    assert again.update(SURE_BUSES, 3) is not None
    other = stored_detector(params(), path, clock=Clock())  # another model version: a new reference
    assert other.update(SURE_BUSES * 3, 4) is None and other.reference == Reference(4, (0, 20, 0), (0,) * 9 + (20,))


def test_a_reference_that_does_not_fit_is_rebuilt(tmp_path, caplog) -> None:
    path = tmp_path / "cam.json"
    save_reference(path, Reference(3, (20, 0), (0,) * 9 + (20,)))  # two classes: another model
    assert stored_detector(params(), path).update(SURE_BUSES, 3) is None
    path.write_text("{not json")
    with caplog.at_level("WARNING"):
        assert stored_detector(params(), path).update(SURE_BUSES, 3) is None
    assert "unreadable" in caplog.text


@pytest.mark.parametrize("obj", [
    [], {"format": 2}, {"format": 1, "model_version": "1", "classes": [1], "confidence": [1]},
    {"format": 1, "model_version": 1, "classes": [-1], "confidence": [1]},
    {"format": 1, "model_version": 1, "classes": [True], "confidence": [1]},
    {"format": 1, "model_version": 1, "classes": [1]},
])
def test_malformed_references_are_refused(obj) -> None:
    with pytest.raises(ValueError):
        reference_from_json(json.loads(json.dumps(obj)))
