from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aiotwin.bundle import Bundle, default_bundle_dir, load_bundle
from tests.aiotwin.engines import tiny_bundle


def _build(factory: pytest.TempPathFactory, name: str, *, tflite: bool):
    pytest.importorskip("onnx", reason="building the tiny ONNX models needs the onnx package (export extra)")
    pytest.importorskip("onnxruntime.quantization", reason="int8 QDQ needs onnxruntime")
    if tflite and not tiny_bundle.export_available():
        pytest.skip("the tiny TFLite needs the export extra (litert-torch, torchao)")
    _no_tqdm_monitor()
    return tiny_bundle.build(factory.mktemp(name), tflite=tflite)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    """The tiny bundle with its ONNX variants."""
    out = _build(tmp_path_factory, "tiny-bundle", tflite=False)
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_tflite_dir(tmp_path_factory: pytest.TempPathFactory):
    """The tiny bundle with ONNX and TFLite variants (TFLite built with litert-torch: export extra)."""
    out = _build(tmp_path_factory, "tiny-tflite-bundle", tflite=True)
    yield out
    shutil.rmtree(out, ignore_errors=True)


def _no_tqdm_monitor() -> None:
    """quantize_static and litert-torch show tqdm bars; tqdm's monitor thread would outlive the test."""
    try:
        from tqdm import tqdm
    except ImportError:
        return
    tqdm.monitor_interval = 0


@pytest.fixture(scope="session")
def tiny(tiny_dir: Path) -> Bundle:
    return load_bundle(tiny_dir)


@pytest.fixture(scope="session")
def tiny_tflite(tiny_tflite_dir: Path) -> Bundle:
    return load_bundle(tiny_tflite_dir)


def shipped_bundle() -> Bundle | None:
    path = default_bundle_dir("edge")
    return load_bundle(path) if (path / "manifest.json").is_file() else None
