"""Sample stores for training and holdouts: crops from the synthetic scenes, or toy arrays for tests.

:func:`training_store` and :func:`holdout_store` render crops with
:func:`aiotwin.scenes.crop_dataset` following :mod:`aiotwin.models.recipe`. :func:`toy_store`
draws simple class-dependent shapes without the renderer (plumbing tests, smoke builds).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.labels import CLASSES
from aiotwin.models import recipe
from aiotwin.models.task import ArrayStore

log = logging.getLogger("aiotwin.models.data")

# Toy classes: (height, width) fraction of the frame and an RGB tint per class.
_TOY_SHAPES = ((0.35, 0.6), (0.55, 0.95), (0.6, 0.8), (0.35, 0.3), (0.3, 0.4), (0.7, 0.2))
_TOY_TINTS = ((200, 40, 40), (230, 200, 30), (60, 60, 200), (30, 30, 30), (40, 180, 60), (200, 120, 200))


def _toy_image(label: int, size: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    img = rng.integers(60, 140, (size, size, 3)).astype(np.float32)
    fh, fw = _TOY_SHAPES[label % len(_TOY_SHAPES)]
    h, w = max(2, int(fh * size * rng.uniform(0.85, 1.15))), max(2, int(fw * size * rng.uniform(0.85, 1.15)))
    h, w = min(h, size), min(w, size)
    top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
    tint = np.asarray(_TOY_TINTS[label % len(_TOY_TINTS)], np.float32) * rng.uniform(0.7, 1.1)
    img[top:top + h, left:left + w] = tint
    return np.clip(img, 0, 255).astype(np.uint8)


def toy_store(n: int, seed: int = 0, size: int = recipe.INPUT_SIZE, classes: int = len(CLASSES)) -> ArrayStore:
    """``n`` balanced toy crops (a tinted box of class-specific shape on noise)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % classes).astype(np.int64)
    x = np.stack([_toy_image(int(label), size, rng) for label in y]) if n else np.zeros((0, size, size, 3), np.uint8)
    return ArrayStore(x, y)


def _crop_dataset() -> Any:
    try:
        from aiotwin.scenes import crop_dataset
    except ImportError as exc:
        from aiotwin.models.errors import ModelBuildError

        raise ModelBuildError(f"training data needs aiotwin.scenes.crop_dataset: {exc}") from exc
    return crop_dataset


def render(cameras: Sequence[str], seeds: Sequence[int], per_camera: int, *, lighting: str | None = None,
           weather: str | None = None, size: int = recipe.INPUT_SIZE) -> ArrayStore:
    """``size``×``size`` crops of ``cameras`` × ``seeds`` from the scene renderer as a store.

    The objects and boxes sampled do not depend on ``size`` (only the final resize does), so stores
    of two sizes hold the same objects: a fair holdout for models of different input sizes.
    """
    x, y = _crop_dataset()(list(cameras), list(seeds), per_camera, size, lighting=lighting, weather=weather)
    return ArrayStore(np.ascontiguousarray(x, dtype=np.uint8), np.asarray(y, dtype=np.int64))


def concat(stores: Sequence[ArrayStore]) -> ArrayStore:
    parts = [s.arrays() for s in stores if len(s)]
    if not parts:
        raise ValueError("nothing to concatenate")
    return ArrayStore(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def training_store(samples: int, cameras: Sequence[str] | None = None, size: int = recipe.INPUT_SIZE) -> ArrayStore:
    """About ``samples`` training crops over :data:`recipe.TRAIN_CONDITIONS` and training seeds."""
    cams = list(cameras or recipe.TRAIN_CAMERAS)
    stores = []
    for i, (lighting, weather, share) in enumerate(recipe.TRAIN_CONDITIONS):
        seeds = recipe.TRAIN_SEEDS[i::len(recipe.TRAIN_CONDITIONS)]
        per_camera = max(1, math.ceil(samples * share / len(cams)))
        stores.append(render(cams, seeds, per_camera, lighting=lighting, weather=weather, size=size))
        log.info("rendered %d training crops (lighting %s, weather %s)", len(stores[-1]), lighting or "camera's",
                 weather or "camera's")
    return concat(stores)


def blurred(store: ArrayStore, sigma: float) -> ArrayStore:
    """A copy of ``store`` with every crop Gaussian-blurred by ``sigma`` pixels."""
    import cv2

    x, y = store.arrays()
    out = np.stack([cv2.GaussianBlur(img, (0, 0), sigma) for img in x]) if len(x) else x.copy()
    return ArrayStore(out, y)


def holdout_store(kind: str = "standard", per_camera: int = recipe.HOLDOUT_PER_CAMERA,
                  cameras: Sequence[str] | None = None, size: int = recipe.INPUT_SIZE) -> ArrayStore:
    """Holdout crops rendered with :data:`recipe.HOLDOUT_SEEDS` (never used in training).

    ``standard``: the cameras' own lighting and weather; ``hard``: :data:`recipe.HARD_CONDITIONS`
    plus a blurred share.
    """
    cams = list(cameras or recipe.HOLDOUT_CAMERAS)
    if kind == "standard":
        return render(cams, recipe.HOLDOUT_SEEDS, per_camera, size=size)
    if kind != "hard":
        raise ValueError(f"holdout kind must be standard or hard, got {kind!r}")
    each = max(1, per_camera // (len(recipe.HARD_CONDITIONS) + 1))
    parts = [render(cams, recipe.HOLDOUT_SEEDS, each, lighting=lt, weather=wt, size=size)
             for lt, wt in recipe.HARD_CONDITIONS]
    parts.append(blurred(render(cams, recipe.HOLDOUT_SEEDS, each, size=size),
                         recipe.HARD_BLUR_SIGMA * size / recipe.INPUT_SIZE))
    return concat(parts)


__all__ = ["blurred", "concat", "holdout_store", "render", "toy_store", "training_store"]
