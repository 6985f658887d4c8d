"""One aggregation step: config validation, update validation, clipping, rules, and both tiers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotwin._exceptions import AiotwinError, ConfigError
from aiotwin.config import load_dataclass
from aiotwin.fl import (
    RULES,
    AggregateResult,
    AggregationConfig,
    FlConfigError,
    NotEnoughUpdates,
    Update,
    UpdateMalformed,
    UpdateTooLarge,
    VersionMismatch,
    aggregate,
    apply_delta,
    delta_from,
    rules,
    validate_update,
)
from tests.aiotwin.fl.helpers import SHAPES, flat, model, update
from tests.aiotwin.fl.test_rules import honest_and_attackers

GLOBAL = model(0.5)
NO_CLIP = 1e9  # a fixed bound no test update reaches


def run(updates: list[Update], version: str = "v1", **cfg: Any) -> AggregateResult:
    return aggregate(GLOBAL, updates, AggregationConfig(**cfg), base_version=version)


# -- config --------------------------------------------------------------------------------------


def test_default_config_is_fedavg_with_adaptive_clipping():
    cfg = AggregationConfig()
    assert (cfg.rule, cfg.clip_norm, cfg.clip_factor, cfg.trim_frac) == ("fedavg", None, 2.0, 0.2)
    assert cfg.min_updates == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rule": "mean"}, "rule must be one of fedavg, trimmed-mean, median, krum, multi-krum; got 'mean'"),
        ({"trim_frac": 0.5}, r"trim-frac must be in \[0, 0.5\)"),
        ({"trim_frac": -0.1}, "trim-frac"),
        ({"trim_frac": float("nan")}, "trim-frac"),
        ({"byzantine": -1}, "byzantine must be an integer ≥ 0"),
        ({"byzantine": 1.5}, "byzantine must be an integer"),
        ({"rule": "multi-krum", "multi_m": 0}, "multi-m must be an integer ≥ 1"),
        ({"rule": "krum", "multi_m": 3}, "multi-m applies only to rule 'multi-krum', not 'krum'"),
        ({"clip_norm": 0.0}, "clip-norm must be a finite number > 0"),
        ({"clip_norm": float("inf")}, "clip-norm"),
        ({"clip_factor": 0}, "clip-factor must be a finite number > 0"),
        ({"max_update_bytes": 0}, "max-update-bytes must be an integer > 0"),
        ({"max_update_bytes": True}, "max-update-bytes"),
    ],
)
def test_config_rejects_bad_values_with_a_clear_message(kwargs, match):
    with pytest.raises(FlConfigError, match=match) as info:
        AggregationConfig(**kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, AiotwinError)


def test_config_reports_every_problem_at_once():
    with pytest.raises(FlConfigError) as info:
        AggregationConfig(rule="nope", trim_frac=2.0, clip_factor=-1.0)  # type: ignore[arg-type]
    assert len(info.value.problems) == 3


@pytest.mark.parametrize(("rule", "f", "needed"), [("krum", 0, 3), ("krum", 2, 7), ("multi-krum", 1, 5),
                                                   ("median", 3, 1), ("fedavg", 0, 1)])
def test_min_updates_per_rule(rule, f, needed):
    assert AggregationConfig(rule=rule, byzantine=f).min_updates == needed


def test_config_loads_from_kebab_case_toml_data():
    cfg = load_dataclass(AggregationConfig, {"rule": "multi-krum", "byzantine": 2, "multi-m": 4, "clip-norm": 5})
    assert (cfg.rule, cfg.byzantine, cfg.multi_m, cfg.clip_norm) == ("multi-krum", 2, 4, 5.0)


def test_config_loader_reports_validation_errors_with_the_file():
    with pytest.raises(ConfigError, match=r"fl.toml .*trim-frac must be in") as info:
        load_dataclass(AggregationConfig, {"rule": "trimmed-mean", "trim-frac": 0.7}, file="fl.toml")
    assert len(info.value.problems) == 1


# -- validation ----------------------------------------------------------------------------------


def _replace_array(i: int, arr: np.ndarray) -> list[np.ndarray]:
    arrays = model(1.0)
    arrays[i] = arr
    return arrays


REJECTIONS = {
    "version": (Update("bad", "v0", 10, model(1.0)), VersionMismatch,
                "trained on base version 'v0', this round aggregates 'v1'"),
    "zero-examples": (Update("bad", "v1", 0, model(1.0)), UpdateMalformed, "num_examples must be an integer ≥ 1"),
    "bool-examples": (Update("bad", "v1", True, model(1.0)), UpdateMalformed, "num_examples"),
    "float-examples": (Update("bad", "v1", 2.5, model(1.0)), UpdateMalformed, "num_examples"),  # type: ignore[arg-type]
    "missing-array": (Update("bad", "v1", 10, model(1.0)[:2]), UpdateMalformed, "delta has 2 arrays, the model has 3"),
    "extra-array": (Update("bad", "v1", 10, [*model(1.0), np.ones(2, np.float32)]), UpdateMalformed,
                    "delta has 4 arrays, the model has 3"),
    "shape": (Update("bad", "v1", 10, _replace_array(0, np.ones((3, 4), np.float32))), UpdateMalformed,
              r"array 0 has shape \(3, 4\), the model's is \(4, 3\)"),
    "nan": (Update("bad", "v1", 10, _replace_array(1, np.array([1, np.nan, 1, 1, 1], np.float32))), UpdateMalformed,
            r"array 1 has 1 non-finite value\(s\)"),
    "inf": (Update("bad", "v1", 10, _replace_array(2, np.array(np.inf, np.float32))), UpdateMalformed,
            "array 2 has 1 non-finite"),
    "float64-overflow": (Update("bad", "v1", 10, _replace_array(1, np.full(5, 1e300))), UpdateMalformed,
                         r"array 1 has 5 non-finite value\(s\) \(NaN/inf, or too big for float32\)"),
    "complex": (Update("bad", "v1", 10, _replace_array(1, np.ones(5, np.complex64))), UpdateMalformed,
                "array 1 has dtype complex64, not castable to float32"),
    "object": (Update("bad", "v1", 10, _replace_array(1, np.array([None] * 5))), UpdateMalformed, "dtype object"),
    "not-an-array": (Update("bad", "v1", 10, [[1.0] * 3] * 4), UpdateMalformed,  # type: ignore[list-item]
                     "delta must be a list of numpy arrays"),
    "oversize": (Update("bad", "v1", 10, _replace_array(0, np.ones((400, 400), np.float32))), UpdateTooLarge,
                 r"delta is 640\d+ bytes, the limit is 100000"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_a_bad_update_is_rejected_with_a_clear_reason_and_the_others_used(case):
    bad, error, match = REJECTIONS[case]
    result = run([update("a"), bad, update("b")], max_update_bytes=100_000)
    assert result.used == ("a", "b")
    assert list(result.rejected) == ["bad"]
    with pytest.raises(error, match=match) as info:
        validate_update(bad, GLOBAL, "v1", 100_000)
    assert info.value.client_id == "bad"
    assert result.rejected["bad"] == info.value.reason
    assert "update from 'bad' rejected: " in str(info.value)


def test_every_copy_of_a_duplicated_client_is_rejected():
    result = run([update("a"), update("dup", 5.0), update("dup", 1.0)])
    assert result.used == ("a",)
    assert result.rejected == {"dup": "2 updates from one client in one round"}


def test_an_empty_client_id_is_rejected():
    result = run([update("a"), update("")])
    assert result.rejected == {"": "client id must be a non-empty string, got ''"}


def test_nothing_valid_raises_with_every_reason():
    with pytest.raises(NotEnoughUpdates) as info:
        run([update("old", version="v0"), Update("nan", "v1", 1, [np.full(s, np.nan, np.float32) for s in SHAPES])])
    assert set(info.value.rejected) == {"old", "nan"}
    message = str(info.value)
    assert "fedavg needs at least 1 valid update(s), got 0" in message
    assert "old: trained on base version 'v0'" in message
    assert "nan: array 0 has 12 non-finite" in message


def test_krum_without_enough_valid_updates_raises():
    with pytest.raises(NotEnoughUpdates, match=r"krum needs at least 5 valid update\(s\), got 4"):
        run([update(c) for c in "abcd"] + [update("old", version="v0")], rule="krum", byzantine=1)


def test_integer_and_float64_deltas_are_accepted_as_float32():
    ups = [Update("i", "v1", 1, [np.full(s, 2, np.int64) for s in SHAPES]),
           Update("d", "v1", 1, [np.full(s, 4.0, np.float64) for s in SHAPES])]
    result = run(ups, clip_norm=NO_CLIP)
    assert result.rejected == {}
    np.testing.assert_allclose(flat(result.delta), 3.0)
    assert all(a.dtype == np.float32 for a in result.weights + result.delta)


# -- result, clipping, rules ---------------------------------------------------------------------


def test_fedavg_result_weights_counts_and_norms():
    result = run([update("a", 1.0, n=10), update("b", 4.0, n=30)], clip_norm=NO_CLIP)
    np.testing.assert_allclose(flat(result.delta), 3.25)
    np.testing.assert_allclose(flat(result.weights), 3.75)  # global 0.5 + delta
    assert result.num_examples == 40
    assert result.used == ("a", "b")
    assert result.clipped == ()
    assert result.norms == {"a": pytest.approx(np.sqrt(18)), "b": pytest.approx(4 * np.sqrt(18))}
    assert result.rule == "fedavg"


def test_adaptive_clipping_bounds_every_update_to_factor_times_the_median_norm():
    ups = [update("a", 1.0), update("b", 2.0), update("c", 3.0), update("big", 100.0)]
    result = run(ups, clip_factor=1.5)
    median_norm = 2.5 * np.sqrt(18)
    assert result.clip_bound == pytest.approx(1.5 * median_norm)
    assert result.clipped == ("big",)
    assert result.norms["big"] == pytest.approx(100 * np.sqrt(18))  # the original norm is kept
    expected = (1.0 + 2.0 + 3.0 + 1.5 * 2.5) / 4
    np.testing.assert_allclose(flat(result.delta), expected, rtol=1e-6)


def test_a_fixed_clip_norm_applies_to_everyone():
    result = run([update("a", 1.0), update("b", -1.0, n=30)], clip_norm=np.sqrt(18) / 2)
    assert result.clip_bound == pytest.approx(np.sqrt(18) / 2)
    assert result.clipped == ("a", "b")
    np.testing.assert_allclose(flat(result.delta), (0.5 * 10 - 0.5 * 30) / 40, rtol=1e-6)


def test_a_single_update_is_never_clipped_by_the_adaptive_bound():
    result = run([update("only", 7.0)])
    assert result.clipped == ()
    np.testing.assert_allclose(flat(result.delta), 7.0)


@pytest.mark.parametrize(("rule", "kwargs"), [("krum", {}), ("multi-krum", {"multi_m": 2}), ("multi-krum", {})])
def test_krum_uses_and_counts_only_the_selected_updates(rule, kwargs):
    ups = [update("a", 1.0, n=1), update("b", 1.1, n=2), update("c", 0.9, n=4), update("far", 50.0, n=1000),
           update("d", 1.05, n=8)]
    result = run(ups, rule=rule, byzantine=1, clip_norm=NO_CLIP, **kwargs)
    expected_m = {"krum": 1, "multi-krum": kwargs.get("multi_m", 4)}[rule]
    assert len(result.used) == expected_m
    assert "far" not in result.used
    assert "far" in result.not_selected
    assert set(result.used) | set(result.not_selected) == {"a", "b", "c", "d", "far"}
    assert result.num_examples == sum(u.num_examples for u in ups if u.client_id in result.used)


def test_multi_krum_m_is_capped_at_n_minus_f_for_a_small_round():
    ups = [update(c, 1.0 + 0.01 * i) for i, c in enumerate("abcde")]
    result = run(ups, rule="multi-krum", byzantine=1, multi_m=10)
    assert len(result.used) == 4


@pytest.mark.parametrize("rule", RULES)
def test_every_rule_runs_end_to_end(rule):
    ups = [update(f"c{i}", 1.0 + 0.01 * i) for i in range(7)]
    result = run(ups, rule=rule, byzantine=1)
    assert result.rule == rule
    assert [a.shape for a in result.weights] == SHAPES
    np.testing.assert_allclose(flat(result.delta), 1.03, atol=0.031)


def test_aggregate_never_modifies_its_inputs():
    ups = [update("a", 1.0), update("b", 100.0), update("c", 2.0)]
    before = [flat(u.delta) for u in ups]
    global_before = flat(GLOBAL)
    run(ups, clip_factor=1.0)
    for u, b in zip(ups, before, strict=True):
        np.testing.assert_array_equal(flat(u.delta), b)
    np.testing.assert_array_equal(flat(GLOBAL), global_before)


@pytest.mark.parametrize("attack", ["sign-flip-x10", "gaussian"])
def test_with_clipping_robust_rules_beat_fedavg_and_clipping_limits_fedavg_damage(attack):
    deltas, honest_mean, scale = honest_and_attackers(attack)
    base = [np.zeros(a.shape, np.float32) for a in deltas[0]]
    ups = [Update(f"c{i}", "v1", 10, d) for i, d in enumerate(deltas)]

    def error(**cfg: Any) -> float:
        result = aggregate(base, ups, AggregationConfig(**cfg), base_version="v1")
        return float(np.linalg.norm(flat(result.delta) - honest_mean) / scale)

    unclipped, clipped = error(rule="fedavg", clip_norm=NO_CLIP), error(rule="fedavg")
    assert unclipped > 1.0
    assert clipped < unclipped / 2  # adaptive clipping bounds each attacker to 2× the median norm...
    assert clipped > 0.25  # ...but the mean still moves
    for rule, extra in [("trimmed-mean", {}), ("median", {}), ("krum", {"byzantine": 2}),
                        ("multi-krum", {"byzantine": 2})]:
        assert error(rule=rule, **extra) < 0.15, rule


# -- deltas and the two tiers --------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(base=st.floats(-10, 10), local=st.floats(-10, 10))
def test_delta_from_and_apply_delta_are_inverse(base, local):
    b, w = model(base), model(local)
    np.testing.assert_allclose(flat(apply_delta(b, delta_from(w, b))), flat(w), atol=1e-5)
    u = Update.from_weights("c", "v1", 3, w, b)
    np.testing.assert_allclose(flat(u.delta), local - np.float32(base), atol=1e-5)


def test_delta_from_rejects_a_different_layout():
    with pytest.raises(UpdateMalformed, match="2 local arrays, the base model has 3"):
        delta_from(model(1.0)[:2], model(0.0))


@settings(max_examples=25, deadline=None)
@given(groups=st.lists(st.lists(st.tuples(st.floats(-5, 5), st.integers(1, 500)), min_size=1, max_size=4),
                       min_size=1, max_size=4))
def test_two_tier_fedavg_with_summed_examples_equals_flat_fedavg(groups):
    """Each gateway replies with its aggregate as a delta and the summed example count."""
    cfg = AggregationConfig(clip_norm=NO_CLIP)
    devices = [[update(f"g{g}d{d}", v, n=n) for d, (v, n) in enumerate(grp)] for g, grp in enumerate(groups)]
    replies = []
    for g, devs in enumerate(devices):
        local = aggregate(GLOBAL, devs, cfg, base_version="v1")
        replies.append(Update.from_weights(f"g{g}", "v1", local.num_examples, local.weights, GLOBAL))
    two_tier = aggregate(GLOBAL, replies, cfg, base_version="v1")
    flat_fl = aggregate(GLOBAL, [d for devs in devices for d in devs], cfg, base_version="v1")
    assert two_tier.num_examples == flat_fl.num_examples
    np.testing.assert_allclose(flat(two_tier.weights), flat(flat_fl.weights), atol=1e-4)


def test_the_coordinator_rejects_a_gateway_reply_for_another_version():
    replies = [update("gw-a", 1.0, version="v7"), update("gw-b", 2.0, version="v6")]
    result = aggregate(GLOBAL, replies, AggregationConfig(), base_version="v7")
    assert result.used == ("gw-a",)
    assert "trained on base version 'v6', this round aggregates 'v7'" in result.rejected["gw-b"]


def test_rules_module_and_aggregate_agree_on_trimmed_mean():
    ups = [update(f"c{i}", float(i)) for i in range(10)]
    result = run(ups, rule="trimmed-mean", trim_frac=0.2, clip_norm=NO_CLIP)
    expected = rules.trimmed_mean([u.delta for u in ups], 0.2)
    np.testing.assert_allclose(flat(result.delta), flat(expected))
