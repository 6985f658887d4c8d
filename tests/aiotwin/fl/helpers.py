"""Shared helpers of the FL tests: a fake clock and small synthetic models and updates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aiotwin.fl import Update

SHAPES: list[tuple[int, ...]] = [(4, 3), (5,), ()]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def model(value: float = 0.0, shapes: Sequence[tuple[int, ...]] = SHAPES) -> list[np.ndarray]:
    return [np.full(s, value, dtype=np.float32) for s in shapes]


def update(
    cid: str, value: float = 1.0, *, version: str = "v1", n: int = 10, shapes: Sequence[tuple[int, ...]] = SHAPES,
) -> Update:
    return Update(cid, version, n, model(value, shapes))


def flat(weights: Sequence[Any]) -> np.ndarray:
    return np.concatenate([np.ravel(a).astype(np.float64) for a in weights])
