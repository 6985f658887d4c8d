"""Non-IID camera datasets of the federated-learning benchmarks (``hfl.py``, ``fl_robustness.py``).

Ten camera nodes behind two gateways, each node one synthetic camera (its own road, class mix and
lighting; ``NAME@LIGHTING`` forces a lighting). The starting model is trained on one camera only
(:data:`SEED_CAMERA`); the holdout covers every camera with seeds never used for training.
Everything is rendered by :func:`aiotwin.models.data.render`, deterministic by seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aiotwin.models.data import concat, render
from aiotwin.models.task import ArrayStore

# Two gateways × five cameras, each its own road, class mix and lighting.
GATEWAY_CAMERAS: tuple[tuple[str, ...], ...] = (
    ("avenue", "campus", "downtown", "highway@dusk", "industrial"),
    ("residential", "rural", "bridge", "highway", "avenue@night"),
)
CAMERAS: tuple[str, ...] = tuple(c for group in GATEWAY_CAMERAS for c in group)
# The starting model saw only this camera: every class, but one road, one perspective, one look.
SEED_CAMERA = "junction"
UNSEEN_PROBE = "campus"  # a camera whose scenes the starting model never saw
TRAIN_SEEDS = tuple(range(200, 212))  # disjoint from the model recipe's training and holdout seeds
HOLDOUT_SEEDS = (9101, 9102)


@dataclass(frozen=True)
class CameraData:
    name: str
    train: ArrayStore
    holdout: ArrayStore


def _split(name: str) -> tuple[str, str | None]:
    camera, _, lighting = name.partition("@")
    return camera, lighting or None


def camera_store(name: str, samples: int, seeds: Sequence[int], *, size: int = 64) -> ArrayStore:
    """``samples`` crops of camera ``name`` (``NAME`` or ``NAME@LIGHTING``) rendered with ``seeds``."""
    camera, lighting = _split(name)
    return render([camera], list(seeds), samples, lighting=lighting, size=size)


def camera_data(names: Sequence[str] = CAMERAS, *, train_samples: int = 300, holdout_samples: int = 120,
                size: int = 64) -> list[CameraData]:
    """Training and holdout crops of each camera (different seeds per camera, disjoint between the two)."""
    out = []
    for i, name in enumerate(names):
        seeds = TRAIN_SEEDS[i % len(TRAIN_SEEDS):] + TRAIN_SEEDS[:i % len(TRAIN_SEEDS)]
        out.append(CameraData(name, camera_store(name, train_samples, seeds[:4], size=size),
                              camera_store(name, holdout_samples, HOLDOUT_SEEDS, size=size)))
    return out


def seed_store(samples: int = 600, *, size: int = 64) -> ArrayStore:
    """What the starting model is trained on: :data:`SEED_CAMERA` alone."""
    return camera_store(SEED_CAMERA, samples, TRAIN_SEEDS, size=size)


def pooled_holdout(cameras: Sequence[CameraData]) -> ArrayStore:
    """Every camera's holdout in one store (the "all cameras" accuracy)."""
    return concat([c.holdout for c in cameras])


def class_mix(store: ArrayStore, classes: int = 6) -> list[int]:
    return [int(n) for n in np.bincount(store.arrays()[1], minlength=classes)]


__all__ = ["CAMERAS", "GATEWAY_CAMERAS", "HOLDOUT_SEEDS", "SEED_CAMERA", "TRAIN_SEEDS", "UNSEEN_PROBE", "CameraData",
           "camera_data", "camera_store", "class_mix", "pooled_holdout", "seed_store"]
