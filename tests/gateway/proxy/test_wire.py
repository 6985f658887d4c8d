"""The router's wire rules: header parsing (property tests), answer classification, JSON helpers."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import InvalidRequestHeader
from gateway.proxy import (
    CLIENT_ID_PATTERN,
    MAX_DEADLINE_MS,
    TENSOR_SHAPE_HEADER,
    classify,
    finite,
    parse_client_id,
    parse_deadline_ms,
    with_instance,
)

CLIENT_IDS = st.from_regex(CLIENT_ID_PATTERN, fullmatch=True)
DECIMALS = st.from_regex(r"[0-9]{1,9}(\.[0-9]{1,6})?", fullmatch=True)


@given(CLIENT_IDS)
def test_every_valid_client_id_parses_to_itself(client):
    assert parse_client_id(client) == client
    assert parse_client_id(f"  {client}\t") == client  # surrounding whitespace is not part of the id


@given(st.text(max_size=80))
@example("")
@example("   ")
@example("-starts-with-dash")
@example("a" * 65)
@example("cam 1")
@example("cam/1")
@example("ünïcode")
@example("cam-1\x00")
def test_any_text_is_a_valid_id_or_a_400(text):
    try:
        client = parse_client_id(text)
    except InvalidRequestHeader:
        return
    else:
        assert CLIENT_ID_PATTERN.fullmatch(client)
        assert client == text.strip()


def test_a_missing_client_id_is_a_400_that_names_the_header():
    assert InvalidRequestHeader.status == 400
    with pytest.raises(InvalidRequestHeader, match="missing X-Client-Id"):
        parse_client_id(None)


@given(DECIMALS)
def test_positive_decimals_parse_to_their_value(text):
    value = float(text)
    if 0.0 < value <= MAX_DEADLINE_MS:
        assert parse_deadline_ms(text) == value
    else:
        with pytest.raises(InvalidRequestHeader):
            parse_deadline_ms(text)


@given(st.text(max_size=30))
@example("nan")
@example("inf")
@example("-5")
@example("+5")
@example("1e3")
@example("1_000")
@example("0")
@example("0.0")
@example(".5")
@example("5.")
@example("0x10")
@example("٣")  # a non-ASCII digit float() would accept
@example("99999999999")
def test_any_text_is_a_positive_finite_budget_or_a_400(text):
    try:
        ms = parse_deadline_ms(text)
    except InvalidRequestHeader:
        return
    else:
        assert ms is not None
        assert math.isfinite(ms)
        assert 0.0 < ms <= MAX_DEADLINE_MS


def test_an_absent_deadline_is_none():
    assert parse_deadline_ms(None) is None


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "ok"), (204, "ok"), (400, "rejected"), (404, "rejected"), (413, "rejected"), (415, "rejected"),
    (500, "failed"), (503, "failed"), (302, "failed"), (101, "failed"),
])
def test_4xx_is_the_clients_fault_and_5xx_the_instances(status, outcome):
    assert classify(status) == outcome


def test_helpers_make_json_safe_answers():
    assert finite(math.inf) is None
    assert finite(math.nan) is None
    assert finite(3.5) == 3.5
    assert with_instance({"labels": ["car"]}, "i1") == {"labels": ["car"], "instance": "i1"}
    assert with_instance([1, 2], "i1")["instance"] == "i1"


def test_the_forwarded_tensor_header_is_the_instances():
    from gateway.serve import TENSOR_SHAPE_HEADER as SERVED

    assert TENSOR_SHAPE_HEADER == SERVED
