"""The router's replies as the offload client parses them: typed errors for anything malformed."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_runtime.offload.client import OffloadReplyError, parse_answer, parse_qos


def test_qos_reply() -> None:
    body = json.dumps({"tau_ms": 80, "expected_ms": 12.5, "p_within_tau": 0.97, "observations": 40}).encode()
    est = parse_qos(body, 5.0)
    assert (est.expected_ms, est.p_within, est.tau_ms, est.fetched_at, est.observations) == (12.5, 0.97, 80.0, 5.0, 40)


def test_qos_reply_of_a_new_client_has_an_unknown_latency() -> None:
    est = parse_qos(b'{"tau_ms": 80, "expected_ms": null, "p_within_tau": 0.0, "observations": 0}', 1.0)
    assert math.isinf(est.expected_ms) and est.observations == 0


def test_infer_reply() -> None:
    body = json.dumps({"labels": ["car", "bus"], "scores": [0.8, 0.2], "model": "vehicle-cloud", "version": 3,
                       "server_ms": 4.1, "instance": "gw-1"}).encode()
    a = parse_answer(body, "cam", 7, 20.0)
    assert a.best() == ("car", 0.8) and a.model_version == 3 and a.instance == "gw-1" and a.track_id == 7


@pytest.mark.parametrize("body", [
    b"", b"[]", b'{"labels": ["car"]}', b'{"labels": ["car"], "scores": [2.0], "version": 1}',
    b'{"labels": [], "scores": [], "version": 1}', b'{"labels": ["car"], "scores": [0.5, 0.5], "version": 1}',
    b'{"labels": ["car"], "scores": [0.5], "version": "x"}', b'{"labels": "car", "scores": [0.5], "version": 1}',
])
def test_bad_infer_replies(body: bytes) -> None:
    with pytest.raises(OffloadReplyError):
        parse_answer(body, "cam", 1, 1.0)


@pytest.mark.parametrize("body", [
    b"{}", b'{"tau_ms": 80, "p_within_tau": 1.5, "expected_ms": 1}', b'{"tau_ms": 0, "p_within_tau": 0.5}',
    b'{"tau_ms": 80, "p_within_tau": 0.5, "expected_ms": -3}', b"null", b"\xff",
])
def test_bad_qos_replies(body: bytes) -> None:
    with pytest.raises(OffloadReplyError):
        parse_qos(body, 0.0)


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                           lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=10)


@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_reply_parses_or_raises_the_typed_error(body: bytes) -> None:
    for parse in (lambda: parse_qos(body, 0.0), lambda: parse_answer(body, "c", 1, 1.0)):
        try:
            parse()
        except OffloadReplyError:
            pass


@given(st.dictionaries(st.sampled_from(["tau_ms", "expected_ms", "p_within_tau", "observations", "x"]),
                       json_values))
def test_qos_shaped_documents(doc: dict) -> None:
    try:
        est = parse_qos(json.dumps(doc).encode(), 0.0)
    except OffloadReplyError:
        return
    assert 0.0 <= est.p_within <= 1.0 and est.tau_ms > 0 and est.expected_ms >= 0
