import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin.wire import CountEvent, HealthEvent, WireError, decode_event, encode_event


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
