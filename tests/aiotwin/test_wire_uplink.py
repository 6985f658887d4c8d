"""Wire formats of the CoAP uplink: event batches and the gateway's device directives."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin.wire import (
    CountEvent,
    DeviceDirectives,
    HealthEvent,
    WireError,
    decode_directives,
    decode_event,
    decode_event_batch,
    encode_directives,
    encode_event,
    encode_event_batch,
)

EV = CountEvent(camera_id="c", line_id="l", direction="in", cls="car", confidence=0.5, track_id=1, model="edge",
                model_version=1, variant="onnx-int8", id="a1")
HV = HealthEvent(camera_id="c", condition="black", active=False, id="b2")


def test_batch_round_trip_keeps_order_and_drops_repeated_ids():
    assert decode_event_batch(encode_event_batch([EV, HV, EV])) == [EV, HV]
    assert decode_event_batch(encode_event(HV)) == [HV]  # one object is a batch of one


@pytest.mark.parametrize(("raw", "match"), [
    (b"[]", "empty"),
    (b"[1]", r"event \[0\]: event must be a JSON object"),
    (b'{"v":1,"kind":["x"]}', "kind"),
    (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    (encode_event_batch([EV] * 3).replace(b'"v":1', b'"v":true', 1), "protocol version"),
])
def test_malformed_batches(raw, match):
    with pytest.raises(WireError, match=match):
        decode_event_batch(raw)


def test_batch_size_limit():
    with pytest.raises(WireError, match="exceeds 2"):
        decode_event_batch(encode_event_batch([EV, HV, CountEvent(**{**EV.__dict__, "id": "z"})]), max_events=2)


@given(st.binary(max_size=500))
def test_any_bytes_decode_or_raise_wire_error(raw):
    for parse in (decode_event_batch, decode_event, decode_directives):
        try:
            parse(raw)
        except WireError:
            pass


def test_directives_round_trip_ignore_unknown_keys_and_check_ranges():
    d = DeviceDirectives(gateway="gw-1", offload_threshold=0.4, tau_ms=120.0, rho=0.9, model_version=3,
                         byte_budget_per_h=10)
    assert decode_directives(encode_directives(d)) == d
    data = json.loads(encode_directives(d))
    assert decode_directives(json.dumps({**data, "future": 1}).encode()) == d
    for key, bad in (("rho", 1.5), ("tau_ms", 0), ("model_version", -1), ("byte_budget_per_h", 1.5),
                     ("offload_threshold", True), ("gateway", 7)):
        with pytest.raises(WireError, match=key):
            decode_directives(json.dumps({**data, key: bad}).encode())
    with pytest.raises(WireError, match="version"):
        decode_directives(json.dumps({**data, "v": 2}).encode())
