"""A second, tiny task for FL tests: softmax regression on 4×4 block means (numpy only, no torch).

It implements :class:`aiotwin.models.task.Task`, so the federation runs it exactly like the
vehicle classifier; being numpy-only keeps every cold ClientApp process fast. Created as
``load_task("tests.fl.tiny_task:TinyTask", seed=…, classes=6)``.

:func:`slow_samples` is a sample source (node-config ``sample-source``) that stalls a node inside
its first round, so the failure tests can kill it mid-round at a known moment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aiotwin.flower.samples import npz_samples
from aiotwin.models.errors import WeightsMismatch

GRID = 4
LR = 0.5
STEPS_PER_EPOCH = 25
LABELS = ("car", "bus", "truck", "motorcycle", "bicycle", "pedestrian")


def features(x: np.ndarray) -> np.ndarray:
    n, h, w, _ = x.shape
    blocks = x[:, : h - h % GRID, : w - w % GRID].reshape(n, GRID, h // GRID, GRID, w // GRID, 3)
    return blocks.mean(axis=(2, 4)).reshape(n, -1).astype(np.float64) / 255.0 - 0.5


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TinyTask:
    def __init__(self, *, seed: int = 0, version: int = 0, classes: int = len(LABELS)) -> None:
        self._labels = LABELS[:classes]
        self._version = version
        rng = np.random.default_rng(seed)
        self.w = (rng.normal(0, 0.01, (GRID * GRID * 3, classes))).astype(np.float32)
        self.b = np.zeros(classes, np.float32)

    @property
    def name(self) -> str:
        return "tiny"

    @property
    def version(self) -> int:
        return self._version

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def get_weights(self) -> list[np.ndarray]:
        return [self.w.copy(), self.b.copy()]

    def set_weights(self, weights: Sequence[np.ndarray], *, version: int | None = None) -> None:
        if len(weights) != 2 or np.shape(weights[0]) != self.w.shape or np.shape(weights[1]) != self.b.shape:
            raise WeightsMismatch(f"tiny: got shapes {[np.shape(a) for a in weights]}")
        self.w, self.b = np.asarray(weights[0], np.float32).copy(), np.asarray(weights[1], np.float32).copy()
        if version is not None:
            self._version = version

    def _loss(self, f: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
        p = _softmax(f @ self.w + self.b)
        loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
        return loss, float((p.argmax(1) == y).mean()), p

    def train(self, store: Any, epochs: int, *, layers: str = "all") -> dict[str, float]:
        x, y = store.arrays()
        f = features(x)
        onehot = np.eye(len(self._labels))[y]
        for _ in range(epochs * STEPS_PER_EPOCH):
            _, _, p = self._loss(f, y)
            g = (p - onehot) / len(y)
            if layers == "all":
                self.w -= (LR * f.T @ g).astype(np.float32)
            self.b -= (LR * g.sum(0)).astype(np.float32)
        loss, acc, _ = self._loss(f, y)
        return {"loss": loss, "accuracy": acc, "epochs": float(epochs), "samples": float(len(y))}

    def evaluate(self, store: Any) -> dict[str, float]:
        x, y = store.arrays()
        loss, acc, _ = self._loss(features(x), y)
        return {"loss": loss, "accuracy": acc}

    def export(self, out_dir: Path, variants: Sequence[str], calibration_store: Any, *,
               holdout: Any = None) -> Any:
        raise NotImplementedError("the tiny test task has no bundle export")


def slow_samples(node_config: Mapping[str, Any], labels: Sequence[str], size: tuple[int, int]) -> Any:
    """``slow-npz``'s samples; the first call writes ``slow-mark`` (its pid) and then waits ``slow-s``.

    The mark appears while the node's ClientApp is inside its round: a test kills the node then.
    Later calls (the mark exists) load at once.
    """
    mark = Path(str(node_config["slow-mark"]))
    if not mark.exists():
        mark.write_text(f"{os.getpid()}\n", encoding="ascii")
        threading.Event().wait(float(node_config.get("slow-s", 60.0)))
    return npz_samples(Path(str(node_config["slow-npz"])))
