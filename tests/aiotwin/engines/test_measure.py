"""``aiotwin.engines.measure`` and ``io_shapes``: measuring engines and reading model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiotwin._exceptions import EngineError
from aiotwin.engines import engine_available, io_shapes
from aiotwin.engines.measure import classify_all, latency_ms
from tests.aiotwin.engines.conftest import shipped_bundle


class CountingEngine:
    """Two classes; remembers every batch size it was given."""

    variant = "fake"
    provider = "fake"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def classify(self, batch: np.ndarray) -> np.ndarray:
        self.sizes.append(len(batch))
        out = np.zeros((len(batch), 2), np.float32)
        out[:, 0] = batch[:, 0, 0, 0] / 255.0
        out[:, 1] = 1.0 - out[:, 0]
        return out

    def close(self) -> None:
        pass


def test_classify_all_batches_and_keeps_order():
    crops = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 3), np.uint8)
    engine = CountingEngine()
    probs = classify_all(engine, crops, batch=4)
    assert engine.sizes == [4, 4, 2]
    np.testing.assert_allclose(probs[:, 0], np.arange(10) / 255.0)


def test_classify_all_empty_and_bad_batch():
    engine = CountingEngine()
    assert classify_all(engine, np.zeros((0, 2, 2, 3), np.uint8)).shape == (0, 2)
    with pytest.raises(ValueError, match="batch"):
        classify_all(engine, np.zeros((1, 2, 2, 3), np.uint8), batch=0)


@pytest.mark.parametrize("shape", [(2, 2, 3), (3, 2, 2, 3)])
def test_latency_times_one_crop_after_warmup(shape):
    engine = CountingEngine()
    p50, p99 = latency_ms(engine, np.zeros(shape, np.uint8), runs=7, warmup=3)
    assert engine.sizes == [1] * 10
    assert 0 < p50 <= p99


def _shipped_or_skip(variant: str):
    bundle = shipped_bundle()
    if bundle is None or variant not in bundle.manifest.variants:
        pytest.skip(f"no shipped edge bundle with {variant}")
    if (why := engine_available(variant)) is not None:
        pytest.skip(why)
    return bundle


@pytest.mark.parametrize("variant", ["onnx-fp32", "onnx-int8", "tflite-int8"])
def test_io_shapes_of_the_shipped_files(variant):
    bundle = _shipped_or_skip(variant)
    spec, classes = bundle.manifest.input, len(bundle.manifest.labels)
    got_in, got_out = io_shapes(bundle.variant_path(variant), variant)
    hwc = [spec.height, spec.width, spec.channels]
    assert got_in[1:] == ([spec.channels, spec.height, spec.width] if variant.startswith("onnx") else hwc)
    assert len(got_out) == 2 and got_out[1] == classes


@pytest.mark.parametrize("variant", ["onnx-fp32", "tflite-int8"])
def test_io_shapes_of_a_file_that_does_not_load(variant, tmp_path: Path):
    bundle = _shipped_or_skip(variant)
    broken = tmp_path / bundle.manifest.variants[variant].file
    broken.write_bytes(bundle.variant_path(variant).read_bytes()[:4096])
    with pytest.raises(EngineError, match="cannot load"):
        io_shapes(broken, variant)


@pytest.mark.parametrize("variant", ["torch-fp32", "onnx-int4"])
def test_io_shapes_needs_a_model_file_variant(variant, tmp_path: Path):
    with pytest.raises(EngineError, match="cannot read shapes"):
        io_shapes(tmp_path / "x", variant)
