from __future__ import annotations

import dataclasses
import math

import pytest

from aiotwin.netem import DirectionPatch, DirectionShape, LinkShape, ShapeError, parse_patch


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"delay_ms": -1}, "delay_ms"),
        ({"jitter_ms": -0.5}, "jitter_ms"),
        ({"sd_ms": math.nan}, "sd_ms"),
        ({"delay_ms": math.inf}, "delay_ms"),
        ({"loss": 1.5}, "loss"),
        ({"loss": -0.1}, "loss"),
        ({"distribution": "gamma"}, "distribution"),
        ({"pareto_shape": 0}, "pareto_shape"),
        ({"rate_bytes_s": -1}, "rate_bytes_s"),
        ({"burst_bytes": -1}, "burst_bytes"),
        ({"burst_bytes": 1.5}, "burst_bytes"),
        ({"delay_ms": "20"}, "delay_ms"),
        ({"loss": True}, "loss"),
    ],
)
def test_direction_shape_rejects_bad_values_naming_the_field(params, field):
    with pytest.raises(ShapeError) as info:
        DirectionShape(**params)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"blackhole_connect": "drop"}, "blackhole_connect"),
        ({"tcp_rto_ms": -1}, "tcp_rto_ms"),
        ({"blackhole": 1}, "blackhole"),
    ],
)
def test_link_shape_rejects_bad_values(params, field):
    with pytest.raises(ShapeError) as info:
        LinkShape(**params)
    assert info.value.field == field


def test_patch_top_level_applies_to_both_directions_and_tables_override_one():
    shape = LinkShape.from_params(delay_ms=20, jitter_ms=2, downstream={"delay_ms": 5, "rate_bytes_s": 1000})
    assert shape.upstream == DirectionShape(delay_ms=20, jitter_ms=2)
    assert shape.downstream == DirectionShape(delay_ms=5, jitter_ms=2, rate_bytes_s=1000)
    again = shape.updated(blackhole=True, upstream={"loss": 0.5})
    assert again.blackhole and again.upstream.loss == 0.5 and again.upstream.delay_ms == 20
    assert again.downstream == shape.downstream


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"delay": 20}, "delay"),
        ({"upstream": {"lossy": 0.1}}, "upstream/lossy"),
        ({"upstream": 3}, "upstream"),
        ({"distribution": "gamma"}, "distribution"),
        ({"loss": "0.1"}, "loss"),
        ({"blackhole": "yes"}, "blackhole"),
        ({"burst_bytes": 1.5}, "burst_bytes"),
    ],
)
def test_parse_patch_rejects_unknown_keys_and_wrong_types(params, field):
    with pytest.raises(ShapeError) as info:
        parse_patch(params)
    assert info.value.field == field


def test_range_errors_name_the_direction():
    with pytest.raises(ShapeError) as info:
        LinkShape().updated(downstream={"loss": 2})
    assert info.value.field == "downstream.loss"
    with pytest.raises(ShapeError, match=r"upstream\.delay_ms"):
        LinkShape().updated(delay_ms=-5)


def test_parse_patch_reports_every_problem():
    with pytest.raises(ShapeError) as info:
        parse_patch({"delay": 1, "jitter": 2, "loss": "x"})
    assert {f for f, _ in info.value.problems} == {"delay", "jitter", "loss"}


def test_patch_fields_match_shape_fields():
    assert [f.name for f in dataclasses.fields(DirectionPatch)] == [f.name for f in dataclasses.fields(DirectionShape)]


def test_to_dict_round_trips_through_a_patch():
    shape = LinkShape.from_params(distribution="pareto", delay_ms=3, pareto_shape=1.5, upstream={"loss": 0.2},
                                  blackhole=True, blackhole_connect="refuse", tcp_rto_ms=50)
    doc = shape.to_dict()
    rebuilt = LinkShape().updated(upstream=doc["upstream"], downstream=doc["downstream"], blackhole=doc["blackhole"],
                                  blackhole_connect=doc["blackhole_connect"], tcp_rto_ms=doc["tcp_rto_ms"])
    assert rebuilt == shape
