"""The pure aggregation rules, on arrays: tables, properties, and 2-of-10 attackers."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from aiotwin.fl import AggregationError, NotEnoughUpdates, rules
from tests.aiotwin.fl.helpers import flat

RNG_SEED = 20240601
FLOATS = st.floats(-1e3, 1e3, allow_nan=False, width=32)


def arrays(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=FLOATS)


DELTA = st.tuples(arrays((3, 2)), arrays((4,)), arrays(())).map(list)


def deltas_of(values: Iterable[float]) -> list[list[np.ndarray]]:
    """One delta per value: a single 1-element array."""
    return [[np.array([v], dtype=np.float32)] for v in values]


# -- norms and clipping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "norm"),
    [
        ([np.array([3.0, 4.0])], 5.0),
        ([np.array([1.0, 2.0]), np.array([[2.0]])], 3.0),
        ([np.zeros((2, 2))], 0.0),
        ([], 0.0),
        ([np.full(4, 1e30, dtype=np.float32)], 2e30),  # no float32 overflow in the squares
    ],
)
def test_global_norm_is_the_l2_norm_over_all_arrays(delta, norm):
    assert rules.global_norm(delta) == pytest.approx(norm)


def test_clip_leaves_a_small_delta_alone_and_reports_its_norm():
    delta = [np.array([3.0, 4.0], dtype=np.float32)]
    clipped, norm = rules.clip_update(delta, 10.0)
    assert norm == pytest.approx(5.0)
    assert clipped[0] is delta[0]


def test_clip_scales_a_large_delta_to_the_bound_keeping_its_direction():
    delta = [np.array([3.0, 4.0], dtype=np.float32), np.array([0.0], dtype=np.float32)]
    clipped, norm = rules.clip_update(delta, 1.0)
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(flat(clipped), [0.6, 0.8, 0.0], rtol=1e-6)
    assert all(a.dtype == np.float32 for a in clipped)
    np.testing.assert_array_equal(delta[0], [3.0, 4.0])  # input untouched


@settings(max_examples=80, deadline=None)
@given(delta=DELTA, bound=st.floats(0.0, 1e3))
def test_clipping_bounds_the_norm(delta, bound):
    clipped, norm = rules.clip_update(delta, bound)
    assert norm == pytest.approx(rules.global_norm(delta))
    assert rules.global_norm(clipped) <= bound * (1 + 1e-5) + 1e-6
    if norm <= bound:
        assert all(c is d for c, d in zip(clipped, delta, strict=True))


@pytest.mark.parametrize("bound", [-1.0, float("nan"), float("inf")])
def test_clip_rejects_a_bad_bound(bound):
    with pytest.raises(AggregationError, match="max_norm"):
        rules.clip_update([np.ones(2, dtype=np.float32)], bound)


# -- FedAvg --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "weights", "expected"),
    [
        ([0.0, 4.0], [1, 3], 3.0),
        ([0.0, 4.0], [1, 1], 2.0),
        ([2.0, 100.0], [1, 0], 2.0),
        ([1.0, 2.0, 3.0], [10, 20, 30], 14 / 6),
        ([5.0], [7], 5.0),
    ],
)
def test_fedavg_respects_the_weights(values, weights, expected):
    out = rules.fedavg(deltas_of(values), weights)
    assert out[0][0] == pytest.approx(expected)
    assert out[0].dtype == np.float32


@pytest.mark.parametrize(
    ("weights", "match"),
    [([1.0], "2 deltas but 1 weights"), ([0.0, 0.0], "not all zero"), ([1.0, -1.0], "≥ 0"),
     ([1.0, float("nan")], "finite")],
)
def test_fedavg_rejects_bad_weights(weights, match):
    with pytest.raises(AggregationError, match=match):
        rules.fedavg(deltas_of([1.0, 2.0]), weights)


RULES_ON_DELTAS: dict[str, Callable[[list[list[np.ndarray]]], rules.Weights]] = {
    "fedavg": lambda ds: rules.fedavg(ds, [1.0] * len(ds)),
    "trimmed-mean": lambda ds: rules.trimmed_mean(ds, 0.2),
    "median": rules.coordinate_median,
    "krum": lambda ds: rules.krum(ds, 0),
    "multi-krum": lambda ds: rules.krum(ds, 0, multi=2),
}


@pytest.mark.parametrize("rule", sorted(RULES_ON_DELTAS))
def test_every_rule_rejects_no_input_and_mixed_layouts(rule):
    with pytest.raises(NotEnoughUpdates):
        RULES_ON_DELTAS[rule]([])
    mixed = [[np.zeros(2, np.float32)], [np.zeros(2, np.float32)], [np.zeros(3, np.float32)]]
    with pytest.raises(AggregationError, match="layout"):
        RULES_ON_DELTAS[rule](mixed)


@settings(max_examples=40, deadline=None)
@given(delta=DELTA, n=st.integers(3, 7), rule=st.sampled_from(sorted(RULES_ON_DELTAS)))
def test_every_rule_returns_the_update_when_all_updates_are_identical(delta, n, rule):
    out = RULES_ON_DELTAS[rule]([delta] * n)
    for o, d in zip(out, delta, strict=True):
        assert isinstance(o, np.ndarray)
        assert o.shape == d.shape
        assert o.dtype == np.float32
        np.testing.assert_allclose(o, d, rtol=1e-6, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(ds=st.lists(DELTA, min_size=3, max_size=7), rule=st.sampled_from(sorted(RULES_ON_DELTAS)))
def test_every_rule_stays_within_the_coordinate_range_of_its_inputs(ds, rule):
    out = flat(RULES_ON_DELTAS[rule](ds))
    stacked = np.stack([flat(d) for d in ds])
    assert np.all(out >= stacked.min(axis=0) - 1e-3)
    assert np.all(out <= stacked.max(axis=0) + 1e-3)


@settings(max_examples=30, deadline=None)
@given(ds=st.lists(DELTA, min_size=3, max_size=7), data=st.data())
def test_mean_median_and_trimmed_mean_ignore_the_order_of_updates(ds, data):
    shuffled = data.draw(st.permutations(ds))
    for rule in ("fedavg", "trimmed-mean", "median"):
        np.testing.assert_allclose(flat(RULES_ON_DELTAS[rule](ds)), flat(RULES_ON_DELTAS[rule](shuffled)), atol=1e-4)


# -- trimmed mean and median --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "trim_frac", "expected"),
    [
        ([1.0, 2.0, 3.0, 100.0], 0.25, 2.5),
        ([1.0, 2.0, 3.0, 100.0], 0.0, 26.5),
        ([-100.0, 1.0, 2.0, 3.0, 100.0], 0.2, 2.0),
        ([-100.0, 1.0, 2.0, 3.0, 100.0], 0.1, 1.2),  # floor(0.5) = 0 trimmed: the plain mean
        ([7.0], 0.4, 7.0),
    ],
)
def test_trimmed_mean_table(values, trim_frac, expected):
    assert rules.trimmed_mean(deltas_of(values), trim_frac)[0][0] == pytest.approx(expected)


@pytest.mark.parametrize(("n", "frac", "k"), [(10, 0.2, 2), (10, 0.1, 1), (5, 0.2, 1), (3, 0.3, 0), (10, 0.3, 3),
                                              (4, 0.49, 1), (1, 0.4, 0), (2, 0.49, 0)])
def test_trim_count_is_floor_of_frac_times_n_and_keeps_one(n, frac, k):
    assert rules.trim_count(n, frac) == k


@pytest.mark.parametrize("frac", [-0.1, 0.5, 0.9])
def test_trimmed_mean_rejects_a_bad_fraction(frac):
    with pytest.raises(AggregationError, match=r"trim_frac must be in \[0, 0.5\)"):
        rules.trimmed_mean(deltas_of([1.0, 2.0]), frac)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0, 1.0, 2.0], 2.0), ([4.0, 1.0, 3.0, 2.0], 2.5), ([-5.0], -5.0), ([1.0, 1.0, 1e6], 1.0)],
)
def test_coordinate_median_table(values, expected):
    assert rules.coordinate_median(deltas_of(values))[0][0] == pytest.approx(expected)


def test_median_and_trimmed_mean_work_per_coordinate():
    ds = [[np.array([1.0, 10.0], np.float32)], [np.array([2.0, 30.0], np.float32)],
          [np.array([3.0, 20.0], np.float32)]]
    np.testing.assert_allclose(rules.coordinate_median(ds)[0], [2.0, 20.0])
    np.testing.assert_allclose(rules.trimmed_mean(ds, 0.34)[0], [2.0, 20.0])


# -- Krum ----------------------------------------------------------------------------------------


def test_krum_scores_by_hand():
    # n=5, f=1: each score sums the squared distances to the n−f−2 = 2 nearest others.
    ds = deltas_of([0.0, 1.0, 2.0, 3.0, 10.0])
    np.testing.assert_allclose(rules.krum_scores(ds, 1), [1 + 4, 1 + 1, 1 + 1, 1 + 4, 49 + 64])
    assert rules.krum_select(ds, 1) == [1]  # tie between 1 and 2: the lower index wins
    assert rules.krum_select(ds, 1, 3) == [1, 2, 0]
    assert rules.krum(ds, 1)[0][0] == pytest.approx(1.0)
    assert rules.krum(ds, 1, multi=2)[0][0] == pytest.approx(1.5)


@pytest.mark.parametrize(("n", "f"), [(2, 0), (4, 1), (6, 2)])
def test_krum_needs_2f_plus_3_updates(n, f):
    with pytest.raises(NotEnoughUpdates, match=rf"f={f} needs at least {2 * f + 3} updates, got {n}"):
        rules.krum(deltas_of(range(n)), f)


@pytest.mark.parametrize("m", [0, 5])
def test_multi_krum_m_must_be_between_1_and_n_minus_f(m):
    with pytest.raises(AggregationError, match=r"m must be in \[1, n − f\] = \[1, 4\]"):
        rules.krum(deltas_of(range(5)), 1, multi=m)


def test_krum_rejects_negative_f():
    with pytest.raises(AggregationError, match="n_byzantine"):
        rules.krum_scores(deltas_of(range(5)), -1)


# -- 2 of 10 attackers -------------------------------------------------------------------------


def honest_and_attackers(attack: str, seed: int = RNG_SEED) -> tuple[list[list[np.ndarray]], np.ndarray, float]:
    """8 honest deltas around a common step ``mu``, and 2 attackers; returns (deltas, honest mean)."""
    rng = np.random.default_rng(seed)
    mu = [rng.normal(0.0, 1.0, (6, 4)), rng.normal(0.0, 1.0, (8,))]
    honest = [[(m + rng.normal(0.0, 0.1, m.shape)).astype(np.float32) for m in mu] for _ in range(8)]
    if attack == "sign-flip-x10":
        bad = [[(-10.0 * m).astype(np.float32) for m in mu] for _ in range(2)]
    else:  # gaussian: large noise, unrelated to the task
        bad = [[rng.normal(0.0, 10.0, m.shape).astype(np.float32) for m in mu] for _ in range(2)]
    deltas = honest[:3] + bad[:1] + honest[3:6] + bad[1:] + honest[6:]  # attackers not at the ends
    return deltas, flat(rules.mean(honest)), float(np.linalg.norm(flat(mu)))


ROBUST: dict[str, Callable[[list[list[np.ndarray]]], rules.Weights]] = {
    "trimmed-mean": lambda ds: rules.trimmed_mean(ds, 0.2),
    "median": rules.coordinate_median,
    "krum": lambda ds: rules.krum(ds, 2),
    "multi-krum": lambda ds: rules.krum(ds, 2, multi=8),
}


@pytest.mark.parametrize("attack", ["sign-flip-x10", "gaussian"])
@pytest.mark.parametrize("rule", sorted(ROBUST))
def test_robust_rules_ignore_2_of_10_attackers(rule, attack):
    deltas, honest_mean, scale = honest_and_attackers(attack)
    error = np.linalg.norm(flat(ROBUST[rule](deltas)) - honest_mean)
    assert error < 0.15 * scale, f"{rule} moved {error / scale:.2f}× the step away from the honest mean"


@pytest.mark.parametrize("attack", ["sign-flip-x10", "gaussian"])
def test_fedavg_does_not_ignore_2_of_10_attackers(attack):
    deltas, honest_mean, scale = honest_and_attackers(attack)
    error = np.linalg.norm(flat(rules.fedavg(deltas, [1.0] * 10)) - honest_mean)
    assert error > 1.0 * scale


def test_multi_krum_selects_exactly_the_honest_updates():
    deltas, _, _ = honest_and_attackers("sign-flip-x10")
    assert sorted(rules.krum_select(deltas, 2, 8)) == [0, 1, 2, 4, 5, 6, 8, 9]
