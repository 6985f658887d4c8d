"""The torch reference engine gives the fp32 ONNX variant's answers (the same weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiotwin.bundle import InputSpec, load_bundle
from aiotwin.engines import TORCH_REFERENCE, engine_available, open_engine
from aiotwin.labels import CLASSES
from tests.aiotwin.engines import tiny_bundle

pytestmark = [pytest.mark.train, pytest.mark.export]


@pytest.fixture
def vehicle_bundle(tmp_path: Path):
    for module in ("torch", "onnx"):
        pytest.importorskip(module, reason=f"the torch reference needs {module}")
    import torch

    from aiotwin.models.export_onnx import export_fp32
    from aiotwin.models.nets import build_net, fold_batchnorm

    torch.manual_seed(1)
    net = build_net("edge", len(CLASSES)).eval()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics so that folding matters
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    export_fp32(fold_batchnorm(net), InputSpec(64, 64), tmp_path / "model.fp32.onnx")
    tiny_bundle.write_manifest(tmp_path, {"onnx-fp32": "model.fp32.onnx"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest.update(task="aiotwin.models.vehicle:VehicleClassifier", arch="edge", labels=list(CLASSES),
                    input={"height": 64, "width": 64})
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return load_bundle(tmp_path)


def test_torch_reference_matches_onnx_fp32(vehicle_bundle):
    if reason := engine_available(TORCH_REFERENCE):
        pytest.skip(reason)
    crops = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    ref, torch_engine = open_engine(vehicle_bundle, "onnx-fp32"), open_engine(vehicle_bundle, TORCH_REFERENCE)
    try:
        assert torch_engine.provider == "torch-cpu"
        np.testing.assert_allclose(torch_engine.classify(crops), ref.classify(crops), atol=1e-5)
    finally:
        ref.close()
        torch_engine.close()
