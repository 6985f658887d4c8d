"""Export smoke test: a tiny untrained edge model → every variant, each loads and runs in its runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aiotwin.bundle import load_bundle
from aiotwin.engines import open_engine
from aiotwin.models.data import toy_store
from aiotwin.models.recipe import TASK_REF
from aiotwin.models.verify import verify_bundle

pytest.importorskip("torch")
pytest.importorskip("litert_torch")
pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.export

ALL = ("onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8", "tflite-edgetpu")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from aiotwin.models import load_task

    task = load_task(TASK_REF, arch="edge", seed=0, version=3)
    out = tmp_path_factory.mktemp("bundle")
    return task.export(out, ALL, toy_store(64, seed=1), holdout=toy_store(48, seed=2))


def test_manifest_describes_every_built_variant(bundle):
    m = load_bundle(bundle.path).manifest
    assert (m.name, m.version, m.task, m.arch) == ("vehicle-edge", 3, TASK_REF, "edge")
    assert set(m.variants) == {"onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8"}
    assert m.extra["skipped"]["tflite-edgetpu"].startswith("edgetpu_compiler")
    assert m.extra["output"] == "logits"
    assert {v.layout for k, v in m.variants.items() if k.startswith("onnx")} == {"nchw"}
    assert m.variants["tflite-int8"].layout == "nhwc"
    assert m.variants["onnx-fp16"].dtype == "float16-weights"
    for entry in m.variants.values():
        assert entry.accuracy is not None and 0.0 <= entry.accuracy <= 1.0
        assert entry.latency_ms is not None and entry.latency_ms > 0
    json.loads((bundle.path / "manifest.json").read_text())


def test_every_variant_verifies_loads_and_runs(bundle):
    verify_bundle(bundle)
    crops = toy_store(5, seed=9).arrays()[0]
    reference = None
    for vid in sorted(bundle.manifest.variants, key=lambda v: v != "onnx-fp32"):
        engine = open_engine(bundle, vid)
        try:
            probs = engine.classify(crops)
        finally:
            engine.close()
        assert probs.shape == (5, 6)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        if vid == "onnx-fp32":
            reference = probs
        elif vid == "onnx-fp16":
            assert reference is not None
            np.testing.assert_allclose(probs, reference, atol=2e-2)


def test_onnx_int8_is_static_qdq(bundle):
    import onnx

    model = onnx.load(str(bundle.variant_path("onnx-int8")))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "DynamicQuantizeLinear" not in ops


def test_tflite_int8_has_int8_nhwc_io(bundle):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(bundle.variant_path("tflite-int8")))
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert list(inp["shape"]) == [1, 64, 64, 3]
    assert inp["dtype"] == np.int8
    assert out["dtype"] == np.int8
    assert inp["quantization"][0] > 0


def test_fp32_onnx_export_is_deterministic(bundle, tmp_path):
    from aiotwin.models import load_task

    again = load_task(TASK_REF, arch="edge", seed=0, version=3)
    b2 = again.export(tmp_path, ["onnx-fp32"], toy_store(64, seed=1))
    assert b2.manifest.variants["onnx-fp32"].sha256 == bundle.manifest.variants["onnx-fp32"].sha256
