"""Aggregation rules as pure functions over model deltas (lists of numpy arrays).

A *delta* is one client's change to the global model, ``local − global``, as one array per model
tensor (see :mod:`aiotwin.fl.aggregation` for why deltas, not weights). Every function here takes a
sequence of deltas with the same layout, never modifies its inputs, computes in float64 and returns
float32 arrays. Robust rules (trimmed mean, median, Krum) are unweighted on purpose: a weight is
what a client claims about itself, so an attacker could claim a huge example count.

References: FedAvg, McMahan et al. 2017 (arXiv:1602.05629); coordinate-wise trimmed mean and median,
Yin et al. 2018 (arXiv:1803.01498); Krum and Multi-Krum, Blanchard et al. 2017 (NeurIPS,
"Machine Learning with Adversaries: Byzantine Tolerant Gradient Descent").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.fl._exceptions import AggregationError, NotEnoughUpdates

Array = npt.NDArray[np.float32]
Weights = list[Array]
"""A model's parameters (or a delta): one float32 array per tensor, in the model's order."""
AnyArray = npt.NDArray[Any]
Delta = Sequence[AnyArray]
"""What the functions accept: one array per tensor, of any real dtype (they compute in float64)."""


def as_f32(x: npt.ArrayLike) -> Array:
    """``x`` as a float32 ndarray; unlike ``.astype``, a 0-d result stays an array, not a numpy scalar."""
    return np.asarray(x, dtype=np.float32)


def global_norm(delta: Delta) -> float:
    """The L2 norm of all arrays of ``delta`` taken together (as one flattened vector)."""
    total = 0.0
    for a in delta:
        flat = np.ravel(a).astype(np.float64, copy=False)
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


def clip_update(delta: Delta, max_norm: float) -> tuple[Weights, float]:
    """Scale ``delta`` down so its global L2 norm is at most ``max_norm``.

    Returns the (possibly) scaled delta and its *original* norm. A delta already within the bound
    is returned unscaled (a new list holding the same arrays, when they are float32).
    """
    if not math.isfinite(max_norm) or max_norm < 0:
        raise AggregationError(f"max_norm must be a finite number ≥ 0, got {max_norm!r}")
    norm = global_norm(delta)
    if norm <= max_norm:
        return [as_f32(a) for a in delta], norm
    scale = max_norm / norm
    return [as_f32(np.asarray(a, dtype=np.float64) * scale) for a in delta], norm


def _check_layout(deltas: Sequence[Delta], rule: str) -> None:
    if not deltas:
        raise NotEnoughUpdates(f"{rule} needs at least one update, got none")
    shapes = [np.shape(a) for a in deltas[0]]
    for i, d in enumerate(deltas[1:], start=1):
        if [np.shape(a) for a in d] != shapes:
            raise AggregationError(f"{rule}: delta {i} has layout {[np.shape(a) for a in d]}, delta 0 has {shapes}")


def _stack(deltas: Sequence[Delta], layer: int) -> npt.NDArray[np.float64]:
    return np.stack([np.asarray(d[layer], dtype=np.float64) for d in deltas])


def fedavg(deltas: Sequence[Delta], weights: Sequence[float]) -> Weights:
    """Weighted mean of ``deltas`` (FedAvg); ``weights`` are usually the clients' example counts."""
    _check_layout(deltas, "fedavg")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(deltas),):
        raise AggregationError(f"fedavg: {len(deltas)} deltas but {w.size} weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise AggregationError(f"fedavg: weights must be finite, ≥ 0 and not all zero, got {list(weights)}")
    w = w / w.sum()
    out: Weights = []
    for layer in range(len(deltas[0])):
        acc = np.zeros(np.shape(deltas[0][layer]), dtype=np.float64)
        for wi, d in zip(w, deltas, strict=True):
            acc += wi * np.asarray(d[layer], dtype=np.float64)
        out.append(as_f32(acc))
    return out


def mean(deltas: Sequence[Delta]) -> Weights:
    """Unweighted mean of ``deltas``."""
    return fedavg(deltas, [1.0] * len(deltas))


def trim_count(n: int, trim_frac: float) -> int:
    """How many values :func:`trimmed_mean` drops at *each* end out of ``n``: ``floor(trim_frac·n)``."""
    return min(math.floor(trim_frac * n + 1e-9), (n - 1) // 2)


def trimmed_mean(deltas: Sequence[Delta], trim_frac: float) -> Weights:
    """Coordinate-wise trimmed mean of ``deltas``.

    Per coordinate, drop the ``floor(trim_frac·n)`` smallest and as many largest values and average
    the rest. ``0 ≤ trim_frac < 0.5``; 0 is the plain mean.
    """
    if not 0.0 <= trim_frac < 0.5:
        raise AggregationError(f"trim_frac must be in [0, 0.5), got {trim_frac!r}")
    _check_layout(deltas, "trimmed mean")
    n = len(deltas)
    k = trim_count(n, trim_frac)
    out: Weights = []
    for layer in range(len(deltas[0])):
        kept = np.sort(_stack(deltas, layer), axis=0)[k : n - k]
        out.append(as_f32(kept.mean(axis=0)))
    return out


def coordinate_median(deltas: Sequence[Delta]) -> Weights:
    """Coordinate-wise median (the mean of the two middle values when ``n`` is even)."""
    _check_layout(deltas, "median")
    return [as_f32(np.median(_stack(deltas, layer), axis=0)) for layer in range(len(deltas[0]))]


def krum_min_updates(n_byzantine: int) -> int:
    """Krum tolerates ``f`` Byzantine clients out of ``n`` only when ``n ≥ 2f + 3`` (Blanchard et al.)."""
    return 2 * n_byzantine + 3


def krum_scores(deltas: Sequence[Delta], n_byzantine: int) -> npt.NDArray[np.float64]:
    """Krum score of each delta: the sum of squared L2 distances to its ``n − f − 2`` nearest others."""
    _check_layout(deltas, "krum")
    n, f = len(deltas), n_byzantine
    if f < 0:
        raise AggregationError(f"krum: n_byzantine must be ≥ 0, got {f}")
    if n < krum_min_updates(f):
        raise NotEnoughUpdates(f"krum with f={f} needs at least {krum_min_updates(f)} updates, got {n}")
    flat = np.stack([np.concatenate([np.ravel(a).astype(np.float64) for a in d] or [np.zeros(0)]) for d in deltas])
    scores = np.empty(n, dtype=np.float64)
    for i in range(n):
        dist = np.delete(((flat - flat[i]) ** 2).sum(axis=1), i)
        scores[i] = np.sort(dist)[: n - f - 2].sum()
    return scores


def krum_select(deltas: Sequence[Delta], n_byzantine: int, m: int = 1) -> list[int]:
    """Indices of the ``m`` deltas with the lowest Krum scores (ties: lower index first), best first.

    ``m = 1`` is Krum; ``1 ≤ m ≤ n − f`` is Multi-Krum's selection.
    """
    scores = krum_scores(deltas, n_byzantine)
    if not 1 <= m <= len(deltas) - n_byzantine:
        raise AggregationError(f"multi-krum: m must be in [1, n − f] = [1, {len(deltas) - n_byzantine}], got {m}")
    return [int(i) for i in np.argsort(scores, kind="stable")[:m]]


def krum(deltas: Sequence[Delta], n_byzantine: int, multi: int = 1) -> Weights:
    """Krum (``multi=1``: the single best-scored delta) or Multi-Krum (the mean of the ``multi`` best)."""
    chosen = krum_select(deltas, n_byzantine, multi)
    return mean([deltas[i] for i in chosen])


__all__ = [
    "AnyArray",
    "Array",
    "Delta",
    "Weights",
    "as_f32",
    "clip_update",
    "coordinate_median",
    "fedavg",
    "global_norm",
    "krum",
    "krum_min_updates",
    "krum_scores",
    "krum_select",
    "mean",
    "trim_count",
    "trimmed_mean",
]
