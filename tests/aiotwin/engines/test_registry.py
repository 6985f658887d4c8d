"""Registry, availability and binding details that the contract does not cover."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiotwin._exceptions import BackendMissing, BundleError, EngineError
from aiotwin.bundle import Bundle
from aiotwin.engines import _registry as registry
from aiotwin.engines import engine_available, open_engine
from aiotwin.engines._common import EngineOptions
from aiotwin.engines.onnx import CPU, CUDA, TRT, choose_providers, provider_options, trt_cache_key
from tests.aiotwin.engines import tiny_bundle


def test_importing_engines_imports_no_runtime():
    code = ("import sys, aiotwin.engines\n"
            "print([m for m in ('onnxruntime','cv2','ai_edge_litert','tflite_runtime','torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_unknown_variant():
    assert "unknown variant" in (engine_available("onnx-int4") or "")


def test_missing_runtime_gives_install_hint(monkeypatch):
    monkeypatch.setattr(registry, "missing_modules", lambda backend: ["onnxruntime"])
    assert engine_available("onnx-fp32") == "backend 'onnxruntime' needs onnxruntime: pip install 'aiotwin[infer]'"


def test_open_raises_backend_missing_after_integrity_check(tiny: Bundle, monkeypatch):
    import aiotwin.availability as availability

    monkeypatch.setattr(availability, "module_present", lambda module: False)
    with pytest.raises(BackendMissing, match=r"aiotwin\[infer\]"):
        open_engine(tiny, "onnx-fp32")


def test_edgetpu_unavailable_without_libedgetpu():
    reason = engine_available("tflite-edgetpu", delegate="libnot-a-delegate.so.9")
    assert reason is not None
    assert "libedgetpu1-std" in reason


def test_variant_not_in_bundle(tiny_dir: Path, tmp_path: Path):
    from aiotwin.bundle import load_bundle

    (tmp_path / "model.fp32.onnx").write_bytes((tiny_dir / "model.fp32.onnx").read_bytes())
    tiny_bundle.write_manifest(tmp_path, {"onnx-fp32": "model.fp32.onnx"})
    with pytest.raises(BundleError, match="has no variant 'onnx-int8'"):
        open_engine(load_bundle(tmp_path), "onnx-int8")


@pytest.mark.parametrize(
    ("requested", "available", "expected"),
    [
        (None, [CPU], [CPU]),
        (None, [TRT, CUDA, CPU], [TRT, CUDA, CPU]),
        (None, ["AzureExecutionProvider", CUDA, CPU], [CUDA, CPU]),
        ([CUDA], [TRT, CUDA, CPU], [CUDA, CPU]),
        ([CPU, CUDA], [CUDA, CPU], [CUDA, CPU]),
        ([TRT, CUDA], [CUDA, CPU], [CUDA, CPU]),
    ],
)
def test_choose_providers(requested, available, expected):
    assert choose_providers(requested, available) == expected


def test_choose_providers_none_available():
    with pytest.raises(EngineError, match="none of the requested providers"):
        choose_providers([TRT], [CPU])


def test_trt_options_cache_and_fp16(tmp_path: Path):
    opts = EngineOptions(cache_dir=tmp_path, cache_key=trt_cache_key("NVIDIA H100 80GB", "550.54", "1.32.0"))
    o = provider_options([TRT, CPU], "onnx-fp16", opts)
    assert o[1] == {}
    assert o[0]["trt_fp16_enable"] == "True"
    assert o[0]["trt_engine_cache_enable"] == "True"
    assert o[0]["trt_engine_cache_path"] == str(tmp_path / "NVIDIA-H100-80GB_550.54_1.32.0")
    assert Path(o[0]["trt_engine_cache_path"]).is_dir()
    assert provider_options([TRT], "onnx-int8", EngineOptions())[0] == {"trt_fp16_enable": "False"}


def test_trt_cache_key_rejects_empty():
    with pytest.raises(ValueError, match="at least one"):
        trt_cache_key("", "  ")


def test_onnx_threads_and_provider(tiny: Bundle):
    engine = open_engine(tiny, "onnx-fp32", threads=1, providers=[CPU])
    try:
        assert engine.provider == CPU
    finally:
        engine.close()


def test_onnx_bad_model_is_engine_error(tiny: Bundle, tmp_path: Path):
    (tmp_path / "model.fp32.onnx").write_bytes(b"not an onnx model")
    tiny_bundle.write_manifest(tmp_path, {"onnx-fp32": "model.fp32.onnx"})
    from aiotwin.bundle import load_bundle

    with pytest.raises(EngineError, match="cannot load"):
        open_engine(load_bundle(tmp_path), "onnx-fp32")


def test_input_shape_mismatch_is_integrity_error(tiny_dir: Path, tmp_path: Path):
    import json

    from aiotwin._exceptions import BundleIntegrityError
    from aiotwin.bundle import load_bundle

    manifest = json.loads((tiny_dir / "manifest.json").read_text())
    manifest["input"]["height"] = manifest["input"]["width"] = 32
    (tmp_path / "model.fp32.onnx").write_bytes((tiny_dir / "model.fp32.onnx").read_bytes())
    manifest["variants"] = {"onnx-fp32": manifest["variants"]["onnx-fp32"]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="takes input 16×16"):
        open_engine(load_bundle(tmp_path), "onnx-fp32")


@pytest.mark.export
class TestLiteRt:
    @pytest.fixture
    def engine(self, tiny_tflite: Bundle):
        reason = engine_available("tflite-int8")
        if reason:
            pytest.skip(reason)
        e = open_engine(tiny_tflite, "tflite-int8")
        yield e
        e.close()

    def test_falls_back_to_item_by_item_when_resize_is_refused(self, engine, monkeypatch):
        crops = tiny_bundle.sample_crops(5, seed=9)
        expected = np.concatenate([engine.classify(crops[i:i + 1]) for i in range(5)])
        assert engine._size == 1

        def refuse(*args):
            raise RuntimeError("resize refused")

        monkeypatch.setattr(engine._it, "resize_tensor_input", refuse)
        np.testing.assert_allclose(engine.classify(crops), expected, atol=1e-6)
        assert not engine._resize
        np.testing.assert_allclose(engine.classify(crops[:2]), expected[:2], atol=1e-6)

    def test_provider_is_xnnpack(self, engine):
        assert engine.provider.endswith("-xnnpack")

    def test_edgetpu_without_library_is_engine_error(self, tiny_tflite: Bundle):
        if engine_available("tflite-edgetpu") is None:
            pytest.skip("an Edge TPU runtime is installed here")
        with pytest.raises(EngineError, match="Edge TPU delegate"):
            open_engine(tiny_tflite, "tflite-edgetpu")


@pytest.mark.gpu
@pytest.mark.parametrize("provider", [CUDA, TRT])
def test_gpu_providers(tiny: Bundle, tmp_path: Path, provider: str):
    ort = pytest.importorskip("onnxruntime")
    if provider not in ort.get_available_providers():
        pytest.skip(f"{provider} not available (needs an NVIDIA GPU and onnxruntime-gpu)")
    crops = tiny_bundle.sample_crops(8, seed=5)
    ref = open_engine(tiny, "onnx-fp32", providers=[CPU])
    for variant in ("onnx-fp32", "onnx-fp16"):
        engine = open_engine(tiny, variant, providers=[provider], cache_dir=tmp_path, cache_key="test-gpu")
        try:
            assert engine.provider == provider
            np.testing.assert_array_equal(engine.classify(crops).argmax(1), ref.classify(crops).argmax(1))
        finally:
            engine.close()
    ref.close()
    if provider == TRT:
        assert any((tmp_path / "test-gpu").iterdir()), "TensorRT wrote no engine cache"
