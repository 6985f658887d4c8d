"""Fixtures of the pipeline tests: a static textured background with moving rectangles, a fake engine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from aiotwin.bundle import InputSpec, Manifest

W, H = 320, 240
LABELS = ("car", "bus", "truck", "motorcycle", "bicycle", "pedestrian")


def background(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 60, (H // 8, W // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)


def scene(boxes: Sequence[tuple[int, int, int, int, tuple[int, int, int]]], seed: int = 0) -> np.ndarray:
    """One frame: the background plus solid rectangles (x1, y1, x2, y2, colour)."""
    frame = background(seed).copy()
    for x1, y1, x2, y2, colour in boxes:
        frame[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = colour
    return frame


class ColourEngine:
    """A fake engine: red crops are buses, everything else cars. Records its batch sizes."""

    variant = "fake"
    provider = "test"

    def __init__(self) -> None:
        self.batches: list[int] = []

    def classify(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        probs = np.full((len(batch), len(LABELS)), 0.02, np.float32)
        for i, crop in enumerate(batch):
            red = crop[..., 0].mean() > 150 and crop[..., 2].mean() < 100  # RGB order
            probs[i, 1 if red else 0] = 0.9
        return probs

    def close(self) -> None:
        pass


@pytest.fixture
def manifest() -> Manifest:
    return Manifest("test", 1, "t", "edge", LABELS, InputSpec(32, 32), {})


@pytest.fixture
def engine() -> ColourEngine:
    return ColourEngine()
