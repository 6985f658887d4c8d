"""Export a trained net to variant files and write the bundle manifest (``aiotwin.bundle`` format).

Steps: fold BatchNorm → write each variant file → write a manifest without measurements → load
the bundle like a device would and run every variant in its own runtime on the holdout
(accuracy) and on one crop (p50 batch-1 latency, 2 threads) → rewrite the manifest with them.
Variants that cannot be built here (``tflite-edgetpu`` without the compiler) are skipped and the
reason is recorded in ``manifest.extra["skipped"]``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BundleError
from aiotwin.bundle import (
    MANIFEST,
    VARIANT_IDS,
    Bundle,
    InputSpec,
    Manifest,
    VariantEntry,
    load_bundle,
    sha256_file,
)
from aiotwin.models import recipe
from aiotwin.models.task import SampleStore

log = logging.getLogger("aiotwin.models.export")

# variant id → (file name, layout, dtype)
VARIANT_FILES: dict[str, tuple[str, str, str]] = {
    "onnx-fp32": ("model.fp32.onnx", "nchw", "float32"),
    "onnx-int8": ("model.int8.onnx", "nchw", "int8"),
    "onnx-fp16": ("model.fp16.onnx", "nchw", "float16-weights"),
    "tflite-int8": ("model.int8.tflite", "nhwc", "int8"),
    "tflite-edgetpu": ("model.int8_edgetpu.tflite", "nhwc", "int8-edgetpu"),
}
# What each variant is exported from (built in this order).
SOURCES: dict[str, str | None] = {
    "onnx-fp32": None, "onnx-int8": "onnx-fp32", "onnx-fp16": "onnx-fp32",
    "tflite-int8": None, "tflite-edgetpu": "tflite-int8",
}
VARIANT_NOTES: dict[str, str] = {
    "onnx-fp32": "float32 in/out, NCHW, dynamic batch",
    "onnx-int8": "static QDQ (per-channel int8 weights, uint8 activations), float32 in/out, NCHW",
    "onnx-fp16": "float16 weights and compute, float32 in/out (CUDA/TensorRT providers)",
    "tflite-int8": "full-integer, int8 in/out (scale/zero point in the file), NHWC, batch 1",
    "tflite-edgetpu": "tflite-int8 compiled by edgetpu_compiler; needs libedgetpu",
}


@dataclass
class ExportJob:
    """Everything the manifest says besides the variants."""

    name: str
    version: int
    task: str
    arch: str
    labels: tuple[str, ...]
    spec: InputSpec
    trained_layers: str = "all"
    extra: dict[str, Any] = field(default_factory=dict)


def _calibration(store: SampleStore, n: int, seed: int = 0) -> npt.NDArray[np.uint8]:
    x, _ = store.arrays()
    if len(x) == 0:
        raise BundleError("calibration store is empty")
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return np.ascontiguousarray(x[idx])


def _exporter(vid: str, deploy: Any, calib: npt.NDArray[np.uint8], spec: InputSpec,
              out: Path) -> Callable[[Path], Path]:
    from aiotwin.models import export_onnx, export_tflite

    table: dict[str, Callable[[Path], Path]] = {
        "onnx-fp32": lambda p: export_onnx.export_fp32(deploy, spec, p),
        "onnx-int8": lambda p: export_onnx.export_int8(out / VARIANT_FILES["onnx-fp32"][0], calib, spec, p),
        "onnx-fp16": lambda p: export_onnx.export_fp16(out / VARIANT_FILES["onnx-fp32"][0], p),
        "tflite-int8": lambda p: export_tflite.export_int8(deploy, calib, spec, p),
        "tflite-edgetpu": lambda p: export_tflite.export_edgetpu(out / VARIANT_FILES["tflite-int8"][0], p),
    }
    return table[vid]


def _plan(variants: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Variant ids to build (with their sources, in build order) and the skipped ones with reasons."""
    from aiotwin.models.export_tflite import edgetpu_compiler

    unknown = [v for v in variants if v not in VARIANT_IDS]
    if unknown:
        raise BundleError(f"unknown variant id(s) {unknown} (known: {', '.join(VARIANT_IDS)})")
    wanted = set(variants)
    skipped: dict[str, str] = {}
    if "tflite-edgetpu" in wanted and edgetpu_compiler() is None:
        wanted.discard("tflite-edgetpu")
        skipped["tflite-edgetpu"] = "edgetpu_compiler not on PATH at build time"
    for vid in list(wanted):
        src = SOURCES[vid]
        if src:
            wanted.add(src)
    return [v for v in VARIANT_IDS if v in wanted], skipped


def _clean(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for f in [out / MANIFEST, *(out / name for name, _, _ in VARIANT_FILES.values())]:
        f.unlink(missing_ok=True)


def _entry(out: Path, vid: str, acc: float | None = None, lat: float | None = None) -> VariantEntry:
    name, layout, dtype = VARIANT_FILES[vid]
    path = out / name
    return VariantEntry(name, sha256_file(path), path.stat().st_size, layout, dtype,  # type: ignore[arg-type]
                        acc, lat)


def _manifest(job: ExportJob, variants: dict[str, VariantEntry], extra: dict[str, Any]) -> Manifest:
    return Manifest(name=job.name, version=job.version, task=job.task, arch=job.arch, labels=job.labels,
                    input=job.spec, variants=variants, trained_layers=job.trained_layers,
                    extra={**job.extra, **extra})


def _write(out: Path, manifest: Manifest) -> Bundle:
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(manifest.to_json())
    tmp.replace(out / MANIFEST)
    return load_bundle(out)


def _accuracy(bundle: Bundle, vid: str, stores: dict[str, SampleStore | None]) -> tuple[dict[str, float], float]:
    from aiotwin.engines import open_engine
    from aiotwin.engines.measure import classify_all, latency_ms
    from aiotwin.models.metrics import classification_metrics

    engine = open_engine(bundle, vid, threads=2)
    try:
        accs: dict[str, float] = {}
        crop: npt.NDArray[np.uint8] | None = None
        for key, store in stores.items():
            if store is None:
                continue
            x, y = store.arrays()
            crop = x[0]
            accs[key] = classification_metrics(classify_all(engine, x), y, bundle.manifest.labels)["accuracy"]
        lat, _ = latency_ms(engine, crop if crop is not None else np.zeros((*_hw(bundle), 3), np.uint8))
    finally:
        engine.close()
    return accs, lat


def _hw(bundle: Bundle) -> tuple[int, int]:
    return bundle.manifest.input.height, bundle.manifest.input.width


def _measure(bundle: Bundle, built: list[str], stores: dict[str, SampleStore | None]) -> tuple[
        dict[str, VariantEntry], dict[str, dict[str, float]]]:
    entries: dict[str, VariantEntry] = {}
    by_holdout: dict[str, dict[str, float]] = {}
    for vid in built:
        if vid == "tflite-edgetpu":  # runs only on an Edge TPU
            entries[vid] = _entry(bundle.path, vid)
            continue
        accs, lat = _accuracy(bundle, vid, stores)
        entries[vid] = _entry(bundle.path, vid, accs.get("standard"), round(lat, 4))
        for key, acc in accs.items():
            by_holdout.setdefault(key, {})[vid] = round(acc, 5)
        log.info("%s %s: accuracy %s, p50 %.3f ms", bundle.manifest.name, vid,
                 {k: round(v, 4) for k, v in accs.items()}, lat)
    return entries, by_holdout


def write_bundle(net: Any, job: ExportJob, out: Path, variants: Sequence[str], calibration_store: SampleStore,
                 *, holdout: SampleStore | None = None, hard_holdout: SampleStore | None = None) -> Bundle:
    """Export ``net`` as ``variants`` into ``out`` and return the written, measured bundle."""
    from aiotwin.models.nets import fold_batchnorm

    build, skipped = _plan(variants)
    _clean(out)
    deploy = fold_batchnorm(net)
    calib = _calibration(calibration_store, recipe.CALIBRATION_SAMPLES)
    for vid in build:
        start = time.perf_counter()
        _exporter(vid, deploy, calib, job.spec, out)(out / VARIANT_FILES[vid][0])
        log.info("%s: exported %s (%.1f s)", job.name, vid, time.perf_counter() - start)
    extra: dict[str, Any] = {"output": "logits", "skipped": skipped, "calibration_samples": len(calib),
                             "variant_notes": {v: VARIANT_NOTES[v] for v in build}}
    bundle = _write(out, _manifest(job, {v: _entry(out, v) for v in build}, extra))
    entries, by_holdout = _measure(bundle, build, {"standard": holdout, "hard": hard_holdout})
    extra["accuracy_by_holdout"] = by_holdout
    extra["latency"] = "p50 of classify() on one crop, batch 1, 2 threads, incl. pre-processing"
    return _write(out, _manifest(job, entries, extra))


__all__ = ["VARIANT_FILES", "ExportJob", "write_bundle"]
