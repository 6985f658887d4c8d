"""Kernel density estimates of a latency distribution (pure functions).

With a Gaussian kernel of bandwidth h, the estimated probability that the next latency is within τ is

    P̂(ℓ ≤ τ) = (1/n) Σ_i Φ((τ − x_i) / h)

over all n samples of the window. A miss (failure or timeout) is recorded as x = +∞ and contributes
Φ(−∞) = 0, so failures lower P̂ exactly like replies that came too late. The bandwidth comes from the
finite samples only (Silverman's or Scott's rule, or a fixed value) and never drops below a floor, so
a window of identical samples still yields a smooth step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.router.config import BandwidthRule

_SQRT2 = math.sqrt(2.0)
# Silverman (1986) rule of thumb: h = 0.9 · min(σ, IQR/1.34) · n^(−1/5).
SILVERMAN_FACTOR = 0.9
IQR_TO_SIGMA = 1.34
# Scott (1992) normal reference rule: h = 1.06 · σ · n^(−1/5).
SCOTT_FACTOR = 1.06
BANDWIDTH_EXPONENT = -0.2


@dataclass(frozen=True)
class LatencyEstimate:
    """What the window of one (client, instance) says.

    ``p_within`` is P̂(ℓ ≤ τ); ``expected_ms`` the mean of the finite samples (the mean of a Gaussian
    KDE), ``math.inf`` when every sample is a miss; ``samples`` counts misses too.
    """

    p_within: float
    expected_ms: float
    bandwidth_ms: float
    samples: int
    misses: int


def phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(z / _SQRT2))


def _std(xs: Sequence[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mean = math.fsum(xs) / n
    return math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default ``linear`` method)."""
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def _spread(xs: Sequence[float], rule: BandwidthRule) -> float:
    sigma = _std(xs)
    if rule == "scott":
        return SCOTT_FACTOR * sigma
    ordered = sorted(xs)
    iqr = (_quantile(ordered, 0.75) - _quantile(ordered, 0.25)) / IQR_TO_SIGMA
    robust = min(sigma, iqr) if iqr > 0 else sigma
    return SILVERMAN_FACTOR * robust


def bandwidth(finite: Sequence[float], rule: BandwidthRule, *, fixed_ms: float, floor_ms: float) -> float:
    """Kernel bandwidth in ms for the finite samples, never below ``floor_ms``."""
    if rule == "fixed":
        return max(fixed_ms, floor_ms)
    if len(finite) < 2:
        return floor_ms
    scale: float = len(finite) ** BANDWIDTH_EXPONENT
    return max(_spread(finite, rule) * scale, floor_ms)


def p_within(samples: Sequence[float], tau_ms: float, h_ms: float) -> float:
    """P̂(ℓ ≤ τ) = mean Φ((τ − x_i)/h); misses (``inf``) contribute 0; 0.0 for no samples."""
    if not samples:
        return 0.0
    total = math.fsum(phi((tau_ms - x) / h_ms) for x in samples if math.isfinite(x))
    return total / len(samples)


def expected_latency(samples: Sequence[float]) -> float:
    """Mean of the finite samples; ``inf`` when there are none."""
    finite = [x for x in samples if math.isfinite(x)]
    return math.fsum(finite) / len(finite) if finite else math.inf


def estimate(samples: Sequence[float], tau_ms: float, rule: BandwidthRule, *,
             fixed_ms: float, floor_ms: float) -> LatencyEstimate:
    """Bandwidth, P̂(ℓ ≤ τ) and expected latency of one window in one pass."""
    finite = [x for x in samples if math.isfinite(x)]
    h = bandwidth(finite, rule, fixed_ms=fixed_ms, floor_ms=floor_ms)
    return LatencyEstimate(
        p_within=p_within(samples, tau_ms, h),
        expected_ms=math.fsum(finite) / len(finite) if finite else math.inf,
        bandwidth_ms=h,
        samples=len(samples),
        misses=len(samples) - len(finite),
    )


__all__ = [
    "BANDWIDTH_EXPONENT",
    "IQR_TO_SIGMA",
    "SCOTT_FACTOR",
    "SILVERMAN_FACTOR",
    "LatencyEstimate",
    "bandwidth",
    "estimate",
    "expected_latency",
    "p_within",
    "phi",
]
