import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin.wire import (
    CountEvent,
    DriftEvent,
    HealthEvent,
    WireError,
    decode_event,
    decode_event_batch,
    encode_event,
    encode_event_batch,
)


def count_event(**kw):
    base = {"camera_id": "c", "line_id": "l", "direction": "in", "cls": "car", "confidence": 0.9,
            "track_id": 3, "model": "edge", "model_version": 1, "variant": "onnx-int8"}
    base.update(kw)
    return CountEvent(**base)


def test_round_trip():
    for ev in (count_event(lane="n1"), HealthEvent(camera_id="c", condition="black", active=True)):
        assert decode_event(encode_event(ev)) == ev


def test_ids_unique_and_timestamps_utc():
    a, b = count_event(), count_event()
    assert a.id != b.id
    assert a.ts.endswith("Z")


def test_previous_protocol_version_accepted_newer_refused():
    data = json.loads(encode_event(count_event()))
    data["v"] = 0
    assert decode_event(json.dumps(data).encode()).cls == "car"
    data["v"] = 2
    with pytest.raises(WireError, match="version"):
        decode_event(json.dumps(data).encode())


@pytest.mark.parametrize(
    ("key", "value"),
    [("confidence", 1.5), ("confidence", "x"), ("track_id", 1.5), ("direction", "up"), ("model", "cloud"),
     ("kind", "other"), ("unknown", 1), ("camera_id", 5)],
)
def test_malformed_fields_refused(key, value):
    data = json.loads(encode_event(count_event()))
    data[key] = value
    with pytest.raises(WireError):
        decode_event(json.dumps(data).encode())


def test_oversized_refused():
    with pytest.raises(WireError, match="larger"):
        decode_event(b" " * 70000)


@given(st.binary(max_size=300))
def test_fuzz_bytes(raw):
    try:
        decode_event(raw)
    except WireError:
        pass


@given(st.dictionaries(st.sampled_from(["v", "kind", "camera_id", "cls", "confidence", "track_id", "active",
                                         "condition", "direction", "model", "ts", "id", "x"]),
                       st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)))
def test_fuzz_structures(obj):
    try:
        decode_event(json.dumps(obj).encode())
    except WireError:
        pass


def drift_event(**kw):
    base = {"camera_id": "c", "model_version": 3, "distribution": "classes", "divergence": 0.4,
            "class_divergence": 0.4, "confidence_divergence": 0.1, "metric": "psi", "threshold": 0.25,
            "reference_size": 1000, "window_size": 500}
    base.update(kw)
    return DriftEvent(**base)


def test_drift_event_round_trip_and_batch() -> None:
    ev = drift_event()
    assert decode_event(encode_event(ev)) == ev
    assert decode_event_batch(encode_event_batch([count_event(), ev]))[1] == ev


@pytest.mark.parametrize(
    ("key", "value"),
    [("distribution", "colour"), ("metric", "kl"), ("divergence", -0.1), ("divergence", "big"),
     ("class_divergence", True), ("confidence_divergence", 1e9), ("threshold", None), ("window_size", 0),
     ("reference_size", 2.5), ("model_version", "3"), ("camera_id", 1), ("active", True)],
)
def test_malformed_drift_fields_refused(key, value) -> None:
    data = json.loads(encode_event(drift_event()))
    data[key] = value
    with pytest.raises(WireError):
        decode_event(json.dumps(data).encode())


def test_drift_event_missing_a_field_is_refused() -> None:
    data = json.loads(encode_event(drift_event()))
    del data["window_size"]
    with pytest.raises(WireError, match="DriftEvent"):
        decode_event(json.dumps(data).encode())


@given(st.dictionaries(st.sampled_from(["distribution", "metric", "divergence", "class_divergence", "threshold",
                                         "window_size", "reference_size", "model_version", "camera_id", "x"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
                       | st.lists(st.integers(), max_size=2)))
def test_fuzz_drift_structures(changes):
    data = {**json.loads(encode_event(drift_event())), **changes}
    try:
        decode_event(json.dumps(data).encode())
    except WireError:
        pass
