"""Measuring an open engine: batched classification and batch-1 latency.

The one definition of "latency" behind the manifest's ``latency_ms`` (written when a bundle is built)
and ``aiotwin-device bench``: the wall time of a whole ``classify()`` call on one crop, so
normalisation, quantisation and softmax are included. numpy only; works with any
:class:`aiotwin.engines.Engine`.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from aiotwin.engines.base import Engine

U8Batch = npt.NDArray[np.uint8]
F32Batch = npt.NDArray[np.float32]

DEFAULT_BATCH = 64


def classify_all(engine: Engine, crops: U8Batch, batch: int = DEFAULT_BATCH) -> F32Batch:
    """Probabilities for every crop of ``crops`` (N×H×W×3), classified ``batch`` at a time."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    if len(crops) == 0:
        return engine.classify(crops)
    return np.concatenate([engine.classify(crops[i:i + batch]) for i in range(0, len(crops), batch)])


def latency_ms(engine: Engine, crop: U8Batch, *, runs: int = 200, warmup: int = 20) -> tuple[float, float]:
    """``(p50, p99)`` wall time in milliseconds of ``classify`` on one crop (H×W×3 or 1×H×W×3).

    ``warmup`` untimed calls first: the first calls allocate buffers and build kernel plans.
    """
    if runs < 1:
        raise ValueError("runs must be >= 1")
    one = crop[None] if crop.ndim == 3 else crop[:1]
    for _ in range(warmup):
        engine.classify(one)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        engine.classify(one)
        times[i] = time.perf_counter() - start
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


__all__ = ["DEFAULT_BATCH", "classify_all", "latency_ms"]
