from __future__ import annotations

import math

import pytest

from gateway.router.config import WindowConfig
from gateway.router.window import SlidingWindow


def test_count_bound_drops_oldest():
    w = SlidingWindow(3, None)
    for t in range(5):
        w.add(float(t), float(t * 10))
    assert w.values() == [20.0, 30.0, 40.0]
    assert w.last_t == 4.0


def test_age_bound_prunes_old_samples():
    w = SlidingWindow(None, 10.0)
    for t in (0.0, 5.0, 12.0):
        w.add(t, t)
    assert w.prune(14.0) is True  # 0.0 < 14 − 10
    assert w.values() == [5.0, 12.0]
    assert w.prune(14.0) is False


def test_min_keep_survives_ageing():
    w = SlidingWindow(50, 10.0, min_keep=2)
    for t in (0.0, 1.0, 2.0):
        w.add(t, 1.0)
    w.prune(100.0)
    assert len(w) == 2
    assert w.last_t == 2.0


@pytest.mark.parametrize(
    ("values", "mean"),
    [([], None), ([1.0, 0.0, 1.0, 1.0], 0.75)],
)
def test_mean(values, mean):
    w = SlidingWindow(10, None)
    for i, v in enumerate(values):
        w.add(float(i), v)
    assert math.isnan(w.mean()) if mean is None else w.mean() == mean


def test_from_config():
    w = SlidingWindow.from_config(WindowConfig(max_samples=2, max_age_s=None))
    for t in range(3):
        w.add(float(t), 1.0)
    assert len(w) == 2
