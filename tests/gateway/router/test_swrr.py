from __future__ import annotations

import pytest

from gateway.router.swrr import SmoothWeightedRoundRobin, scale_weights


@pytest.mark.parametrize(
    ("weights", "sequence"),
    [
        ({"a": 5, "b": 1, "c": 1}, "aabacaa"),  # the nginx example
        ({"a": 1, "b": 1, "c": 1}, "abc"),
        ({"a": 2, "b": 1}, "aba"),
        ({"a": 1}, "a"),
    ],
)
def test_nginx_sequence_repeats_each_cycle(weights, sequence):
    rr = SmoothWeightedRoundRobin(weights)
    picks = "".join(rr.next() or "" for _ in range(3 * len(sequence)))
    assert picks == sequence * 3


def test_weight_change_keeps_current_weights_of_staying_peers():
    rr = SmoothWeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    assert [rr.next() for _ in range(2)] == ["a", "a"]  # current: a −4, b 2, c 2
    rr.set_weights({"a": 5, "b": 1})  # c leaves; a and b keep their current weights (−4, 2)
    # by hand: b(a 1, b 3), a(6, −2), a(5, −1), a(4, 0), a(3, 1), a(2, 2: tie → first), b(1, 3)
    assert [rr.next() for _ in range(7)] == ["b", "a", "a", "a", "a", "a", "b"]


def test_exclude_skips_peers_and_none_when_all_excluded():
    rr = SmoothWeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    assert {rr.next(exclude={"a"}) for _ in range(4)} == {"b", "c"}
    assert rr.next(exclude={"a", "b", "c"}) is None
    assert SmoothWeightedRoundRobin().next() is None


def test_rejects_non_positive_weights():
    with pytest.raises(ValueError, match="positive"):
        SmoothWeightedRoundRobin({"a": 0})


@pytest.mark.parametrize(
    ("raw", "scaled"),
    [
        ({"a": 1.0, "b": 0.5}, {"a": 1000, "b": 500}),
        ({"a": 0.99, "b": 0.0}, {"a": 1000}),  # zero weight leaves
        ({"a": 1.0, "b": 1e-9}, {"a": 1000, "b": 1}),  # positive stays ≥ 1
        ({}, {}),
        ({"a": 0.0}, {}),
    ],
)
def test_scale_weights(raw, scaled):
    assert scale_weights(raw, 1000) == scaled
