"""``aiotwin models build``: render data, train, export and measure one bundle per arch, reproducibly.

Same seed and options → same training crops, same fp32 weights and the same ``model.fp32.onnx``
sha256 (torch is seeded, deterministic algorithms on, threads fixed; see :mod:`.train`). Heavy
imports happen inside :func:`build_bundle` after the availability checks, so a missing torch gives
an install hint, not a traceback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiotwin.availability import require
from aiotwin.bundle import VARIANT_IDS, default_bundle_dir
from aiotwin.models import recipe
from aiotwin.models.task import ArrayStore

if TYPE_CHECKING:
    from aiotwin.bundle import Bundle

log = logging.getLogger("aiotwin.models.build")

ARCH_CHOICES: tuple[str, ...] = ("edge", "cloud")
QUICK_HOLDOUT_PER_CAMERA = 30


@dataclass(frozen=True)
class BuildOptions:
    """Command-line options of one build (``None``: take the recipe's value)."""

    arch: str = "edge"
    out: Path | None = None
    seed: int = 0
    epochs: int | None = None
    samples: int | None = None
    version: int = 1
    quick: bool = False
    toy: bool = False  # toy shapes instead of rendered scenes (plumbing tests only)
    variants: tuple[str, ...] = VARIANT_IDS


def out_dir(opts: BuildOptions, *, several: bool) -> Path:
    """Where ``opts.arch`` goes: ``--out`` (``--out/<arch>`` when building several) or the shipped dir."""
    if opts.out is None:
        return default_bundle_dir(opts.arch)
    return opts.out / opts.arch if several else opts.out


def _data(opts: BuildOptions, rec: recipe.ArchRecipe) -> tuple[ArrayStore, ArrayStore, ArrayStore]:
    from aiotwin.models import data

    size = rec.input_size
    if opts.toy:
        return (data.toy_store(rec.samples, opts.seed, size), data.toy_store(300, 9001, size),
                data.toy_store(300, 9002, size))
    per_camera = QUICK_HOLDOUT_PER_CAMERA if opts.quick else recipe.HOLDOUT_PER_CAMERA
    return data.training_store(rec.samples, size=size), data.holdout_store("standard", per_camera, size=size), \
        data.holdout_store("hard", per_camera, size=size)


def _provenance(opts: BuildOptions, rec: recipe.ArchRecipe, stores: tuple[ArrayStore, ...],
                torch_metrics: dict[str, Any]) -> dict[str, Any]:
    train, standard, hard = stores
    return {
        "build": {
            "seed": opts.seed, "samples": len(train), "quick": opts.quick, "toy": opts.toy,
            "input_size": rec.input_size,
            "train_config": asdict(rec.train),
            "train_cameras": list(recipe.TRAIN_CAMERAS), "train_seeds": list(recipe.TRAIN_SEEDS),
            "holdout_cameras": list(recipe.HOLDOUT_CAMERAS), "holdout_seeds": list(recipe.HOLDOUT_SEEDS),
            "holdout_samples": {"standard": len(standard), "hard": len(hard)},
        },
        "torch_metrics": torch_metrics,
    }


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 5) for k, v in metrics.items()}


def build_bundle(opts: BuildOptions, out: Path) -> Bundle:
    """Train ``opts.arch`` on rendered crops and write its bundle to ``out``."""
    for backend in ("torch", "onnx-export", "onnxruntime", "tflite-export", "litert"):
        require(backend)
    from aiotwin.models.vehicle import VehicleClassifier

    start = time.perf_counter()
    rec = recipe.recipe_for(opts.arch, samples=opts.samples, epochs=opts.epochs, quick=opts.quick)
    stores = _data(opts, rec)
    log.info("%s: %d training crops, holdouts %d standard / %d hard (%.1f s)", opts.arch, len(stores[0]),
             len(stores[1]), len(stores[2]), time.perf_counter() - start)
    task = VehicleClassifier(opts.arch, seed=opts.seed, version=opts.version, train_config=rec.train,
                             input_size=rec.input_size)
    log.info("%s: %d parameters", task.name, task.params)
    train_metrics = task.train(stores[0], rec.train.epochs)
    metrics = {"train": _rounded(train_metrics), "standard": _rounded(task.evaluate(stores[1])),
               "hard": _rounded(task.evaluate(stores[2]))}
    log.info("%s: torch accuracy standard %.4f, hard %.4f", task.name, metrics["standard"]["accuracy"],
             metrics["hard"]["accuracy"])
    bundle = task.export(out, opts.variants, stores[0], holdout=stores[1], hard_holdout=stores[2],
                         extra=_provenance(opts, rec, stores, metrics))
    log.info("%s v%d written to %s (%.1f s)", task.name, task.version, out, time.perf_counter() - start)
    return bundle


__all__ = ["ARCH_CHOICES", "BuildOptions", "build_bundle", "out_dir"]
