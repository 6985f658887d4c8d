from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotwin.netem import ControlRequestError, LinkShape, parse_blackhole, parse_shape_update

KEYS = ["delay_ms", "jitter_ms", "distribution", "sd_ms", "pareto_shape", "loss", "rate_bytes_s", "burst_bytes",
        "upstream", "downstream", "blackhole", "blackhole_connect", "tcp_rto_ms", "on", "delay-ms", "bogus"]
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8) \
    | st.sampled_from(["normal", "pareto", "constant", "hang", "refuse"])
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=12,
)
bodies = (
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5).map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=40)
)


def _parse(body: bytes) -> LinkShape | ControlRequestError:
    try:
        return parse_shape_update(body, LinkShape())
    except ControlRequestError as exc:  # the only exception allowed out of the parser
        return exc


@settings(max_examples=300, deadline=None)
@given(bodies)
def test_shape_parser_raises_only_its_typed_error(body):
    result = _parse(body)
    if isinstance(result, ControlRequestError):
        assert str(result)
        assert all(isinstance(f, str) and isinstance(m, str) for f, m in result.problems)
    else:
        assert isinstance(result, LinkShape)


@settings(max_examples=100, deadline=None)
@given(bodies)
def test_blackhole_parser_raises_only_its_typed_error(body):
    try:
        assert isinstance(parse_blackhole(body), bool)
    except ControlRequestError:
        pass


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{", None),
        (b"[1, 2]", None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
        (b'{"delay_ms": "20"}', "delay_ms"),
        (b'{"lag_ms": 20}', "lag_ms"),
        (b'{"upstream": {"loss": 3}}', "upstream.loss"),
        (b'{"downstream": {"rate": 1}}', "downstream/rate"),
        (b'{"delay_ms": NaN}', "upstream.delay_ms"),
    ],
)
def test_malformed_bodies_name_the_problem(body, field):
    with pytest.raises(ControlRequestError) as info:
        parse_shape_update(body, LinkShape())
    if field is not None:
        assert field in [f for f, _ in info.value.problems]


def test_valid_update_applies_on_top_of_the_current_shape():
    current = LinkShape.from_params(delay_ms=10, loss=0.1)
    shape = parse_shape_update(b'{"upstream": {"delay_ms": 30}, "blackhole": true}', current)
    assert (shape.upstream.delay_ms, shape.downstream.delay_ms, shape.upstream.loss, shape.blackhole) == (30, 10, 0.1,
                                                                                                       True)


@pytest.mark.parametrize("body", [b"{}", b'{"on": 1}', b'{"on": true, "x": 1}', b'"on"'])
def test_blackhole_body_is_strict(body):
    with pytest.raises(ControlRequestError):
        parse_blackhole(body)
    assert parse_blackhole(b'{"on": false}') is False
