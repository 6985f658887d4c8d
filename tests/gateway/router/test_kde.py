"""KDE estimates against hand-computed values (Φ from tables, Silverman/Scott by hand)."""

from __future__ import annotations

import math

import pytest

from gateway.router.kde import bandwidth, estimate, expected_latency, p_within, phi

INF = math.inf
PHI_1 = 0.8413447460685429  # Φ(1), standard normal table
PHI_HALF = 0.6914624612740131  # Φ(0.5)
PHI_M1_5 = 0.0668072012688581  # Φ(−1.5)


@pytest.mark.parametrize(
    ("samples", "tau", "h", "expected"),
    [
        ([], 80.0, 10.0, 0.0),  # no evidence
        ([70.0], 80.0, 10.0, PHI_1),  # one sample 1 h below τ
        ([90.0], 80.0, 10.0, 1 - PHI_1),  # one sample 1 h above τ
        ([70.0, 90.0], 80.0, 10.0, 0.5),  # symmetric around τ
        ([80.0], 80.0, 5.0, 0.5),  # exactly at τ
        ([75.0, 95.0], 80.0, 10.0, (PHI_HALF + PHI_M1_5) / 2),
        ([70.0, INF], 80.0, 10.0, PHI_1 / 2),  # a miss counts 0 but still counts
        ([INF, INF, INF], 80.0, 10.0, 0.0),  # all misses
        ([10.0] * 20, 80.0, 1.0, 1.0),  # all well below τ
        ([500.0] * 20, 80.0, 1.0, 0.0),  # all far above τ
    ],
    ids=["empty", "one-below", "one-above", "symmetric", "at-tau", "mixed", "miss-half", "all-misses",
         "all-fast", "all-slow"],
)
def test_p_within_hand_computed(samples, tau, h, expected):
    assert p_within(samples, tau, h) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("samples", "rule", "expected"),
    [
        # σ = √2.5 = 1.5811, IQR = 4 − 2 = 2 → 2/1.34 = 1.4925; n^(−1/5) = 5^(−0.2) = 0.72478
        ([1.0, 2.0, 3.0, 4.0, 5.0], "silverman", 0.9 * (2 / 1.34) * 5 ** -0.2),  # 0.97358
        ([1.0, 2.0, 3.0, 4.0, 5.0], "scott", 1.06 * math.sqrt(2.5) * 5 ** -0.2),  # 1.21474
        ([1.0, 2.0, 3.0, 4.0, 5.0], "fixed", 5.0),
        ([10.0, 10.0, 10.0], "silverman", 0.5),  # zero spread → the floor
        ([10.0], "scott", 0.5),  # one sample → the floor
        ([], "silverman", 0.5),
    ],
)
def test_bandwidth_rules(samples, rule, expected):
    assert bandwidth(samples, rule, fixed_ms=5.0, floor_ms=0.5) == pytest.approx(expected, rel=1e-12)


def test_silverman_uses_sigma_when_iqr_is_wider():
    # two clusters: IQR/1.34 > σ, so Silverman takes σ
    xs = [0.0, 0.0, 10.0, 10.0]
    sigma = math.sqrt(100 / 3)
    assert bandwidth(xs, "silverman", fixed_ms=1, floor_ms=1e-9) == pytest.approx(0.9 * sigma * 4 ** -0.2)


def test_bandwidth_never_below_floor():
    assert bandwidth([20.0, 20.1, 20.2], "silverman", fixed_ms=5.0, floor_ms=1.0) == 1.0
    assert bandwidth([20.0, 21.0], "fixed", fixed_ms=0.2, floor_ms=1.0) == 1.0


def test_estimate_ignores_misses_for_bandwidth_and_mean():
    est = estimate([70.0, 90.0, INF, INF], 80.0, "fixed", fixed_ms=10.0, floor_ms=1.0)
    assert est.p_within == pytest.approx(0.25)  # (Φ(1) + Φ(−1)) / 4
    assert est.expected_ms == 80.0
    assert (est.samples, est.misses, est.bandwidth_ms) == (4, 2, 10.0)


def test_expected_latency():
    assert expected_latency([10.0, 30.0, INF]) == 20.0
    assert expected_latency([INF]) == INF
    assert expected_latency([]) == INF


def test_phi_table_values():
    assert phi(0.0) == 0.5
    assert phi(1.0) == pytest.approx(PHI_1)
    assert phi(-INF) == 0.0
