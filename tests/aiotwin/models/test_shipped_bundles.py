"""Acceptance of the shipped bundles, with the inference runtimes only (no torch).

Both bundles load, every variant's sha256/size and I/O shapes verify, and on a holdout rendered
here with seeds never used in training (``recipe.HOLDOUT_SEEDS``, all nine cameras including the
two never trained on): fp32 ≥ 90 %, int8 variants within 1.5 points of fp32, fp16 within 0.5
points, and the cloud model beats the edge model.
"""

from __future__ import annotations

import pytest

from aiotwin.bundle import default_bundle_dir, load_bundle
from aiotwin.engines import open_engine
from aiotwin.engines.measure import classify_all
from aiotwin.models import recipe
from aiotwin.models.metrics import classification_metrics
from aiotwin.models.verify import verify_bundle

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("cv2")

HOLDOUT_PER_CAMERA = 120  # × 9 cameras: about 1000 crops
INT8_TOLERANCE = 0.015
FP16_TOLERANCE = 0.005
EDGE_MAX_BYTES = 2_000_000
CLOUD_MAX_BYTES = 15_000_000
ARCHS = ("edge", "cloud")


@pytest.fixture(scope="module")
def holdout():
    """The holdout at a given input size (the same objects and boxes at every size: a fair comparison)."""
    pytest.importorskip("aiotwin.scenes")
    from aiotwin.models.data import holdout_store

    assert not set(recipe.HOLDOUT_SEEDS) & set(recipe.TRAIN_SEEDS)
    cache = {}

    def at(size: int):
        if size not in cache:
            cache[size] = holdout_store("standard", HOLDOUT_PER_CAMERA, size=size).arrays()
        return cache[size]

    return at


@pytest.fixture(scope="module")
def accuracy(holdout):
    out: dict[str, dict[str, float]] = {}
    for arch in ARCHS:
        bundle = verify_bundle(default_bundle_dir(arch))
        x, y = holdout(bundle.manifest.input.height)
        out[arch] = {}
        for variant in bundle.manifest.variants:
            if variant == "tflite-edgetpu":
                continue
            engine = open_engine(bundle, variant, threads=2)
            try:
                probs = classify_all(engine, x)
            finally:
                engine.close()
            out[arch][variant] = classification_metrics(probs, y, bundle.manifest.labels)["accuracy"]
    return out


@pytest.mark.parametrize("arch", ARCHS)
def test_shipped_bundle_loads_and_every_variant_verifies(arch):
    bundle = verify_bundle(default_bundle_dir(arch))
    m = bundle.manifest
    assert m.input.height == m.input.width == recipe.RECIPES[arch].input_size
    assert m.name == f"vehicle-{arch}"
    assert m.task == recipe.TASK_REF
    assert {"onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8"} <= set(m.variants)
    assert "tflite-edgetpu" in m.variants or "tflite-edgetpu" in m.extra["skipped"]
    assert m.extra["build"]["holdout_seeds"] == list(recipe.HOLDOUT_SEEDS)
    assert not set(m.extra["build"]["train_cameras"]) & set(recipe.UNSEEN_CAMERAS)


@pytest.mark.parametrize(("arch", "limit"), [("edge", EDGE_MAX_BYTES), ("cloud", CLOUD_MAX_BYTES)])
def test_shipped_bundle_size(arch, limit):
    bundle = load_bundle(default_bundle_dir(arch))
    total = sum(p.stat().st_size for p in bundle.path.iterdir())
    assert total <= limit


@pytest.mark.parametrize("arch", ARCHS)
def test_fp32_accuracy_on_unseen_seeds(accuracy, arch):
    assert accuracy[arch]["onnx-fp32"] >= 0.90, accuracy


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("variant", ["onnx-int8", "tflite-int8"])
def test_int8_variants_stay_close_to_fp32(accuracy, arch, variant):
    assert accuracy[arch][variant] >= accuracy[arch]["onnx-fp32"] - INT8_TOLERANCE, accuracy


@pytest.mark.parametrize("arch", ARCHS)
def test_fp16_matches_fp32(accuracy, arch):
    assert abs(accuracy[arch]["onnx-fp16"] - accuracy[arch]["onnx-fp32"]) <= FP16_TOLERANCE, accuracy


def test_cloud_beats_edge(accuracy):
    assert accuracy["cloud"]["onnx-fp32"] > accuracy["edge"]["onnx-fp32"], accuracy
