"""Camera health: each condition raises one event when it starts and one when it clears."""

from __future__ import annotations

import numpy as np
import pytest

from device_runtime.config import HealthConfig
from device_runtime.pipeline.health import HealthMonitor, Hysteresis, laplacian_variance

TS = "2026-01-01T00:00:00.000Z"
CFG = HealthConfig(frozen_frames=10, black_level=12.0, blur_threshold=15.0, window_frames=5)


def textured(seed: int, level: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 30, (90, 160)), 0, 255).astype(np.uint8)


def run(frames):
    mon = HealthMonitor(CFG, "cam-a")
    return [(i, e.condition, e.active) for i, f in enumerate(frames) for e in mon.update(f, TS)]


def test_healthy_stream_raises_nothing():
    assert run([textured(i) for i in range(60)]) == []


def test_frozen_starts_and_clears_once():
    still = textured(0)
    frames = [textured(i) for i in range(1, 6)] + [still] * 30 + [textured(i) for i in range(100, 120)]
    events = run(frames)
    assert [(c, a) for _, c, a in events] == [("frozen", True), ("frozen", False)]
    start = events[0][0]
    assert start == 5 + CFG.frozen_frames  # 10 identical frames after the first still one


def test_black_has_hysteresis_and_no_storm():
    dark = [np.full((90, 160), 5, np.uint8) for _ in range(20)]
    dim = [np.full((90, 160), 14, np.uint8) + (textured(i, 0) // 50) for i in range(20)]  # between thresholds
    bright = [textured(i) for i in range(20)]
    events = run([textured(99)] * 0 + bright[:5] + dark + dim + bright)
    assert [(c, a) for _, c, a in events if c == "black"] == [("black", True), ("black", False)]
    clear = next(i for i, c, a in events if c == "black" and not a)
    assert clear >= 5 + 20 + 20  # the dim frames did not clear it


def test_occluded_flat_view_starts_and_clears():
    flat = [np.full((90, 160), 128, np.uint8) for _ in range(20)]
    events = run([textured(i) for i in range(10)] + flat + [textured(i) for i in range(50, 80)])
    assert [(c, a) for _, c, a in events if c == "occluded"] == [("occluded", True), ("occluded", False)]


def test_alternating_frames_do_not_flap():
    frames = [np.full((90, 160), 5, np.uint8) if i % 2 else textured(i) for i in range(100)]
    assert [e for e in run(frames) if e[1] == "black"] == []


@pytest.mark.parametrize(
    ("seq", "changes"),
    [
        ("bbbgggg", [(2, True), (4, False)]),
        ("bbgbbbg", [(5, True)]),
        ("bbbgbgg", [(2, True), (6, False)]),
        ("bbbgbgb", [(2, True)]),
    ],
)
def test_hysteresis_table(seq, changes):
    h = Hysteresis(onset=3, release=2)
    out = [(i, c) for i, ch in enumerate(seq) if (c := h.step(ch == "b", ch == "g")) is not None]
    assert out == changes


def test_laplacian_variance_of_flat_image_is_zero():
    assert laplacian_variance(np.full((20, 20), 7, np.uint8)) == 0.0
    assert laplacian_variance(textured(1)) > 100
