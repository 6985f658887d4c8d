"""The one availability module: which optional backends are importable, and how to get the rest.

Used by variant selection, by ``aiotwin-device doctor`` and by test skips. Nothing here imports
a heavy backend: :func:`importlib.util.find_spec` only looks.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from aiotwin._exceptions import BackendMissing


@dataclass(frozen=True)
class BackendSpec:
    """A backend: the modules it needs (import name → pip name) and the extra that brings them."""

    name: str
    modules: tuple[tuple[str, str], ...]
    extra: str
    any_of: bool = False  # True: one of the modules is enough (tflite_runtime or ai_edge_litert)


BACKENDS: dict[str, BackendSpec] = {
    "onnxruntime": BackendSpec("onnxruntime", (("onnxruntime", "onnxruntime"),), "infer"),
    "litert": BackendSpec(
        "litert", (("tflite_runtime", "tflite-runtime"), ("ai_edge_litert", "ai-edge-litert")), "infer",
        any_of=True,
    ),
    "opencv": BackendSpec("opencv", (("cv2", "opencv-python-headless"),), "infer"),
    "coap": BackendSpec("coap", (("aiocoap", "aiocoap"),), "infer"),  # the device uplink (gateways: [gateway])
    "torch": BackendSpec("torch", (("torch", "torch==2.13.0"),), "train"),
    "flower": BackendSpec("flower", (("flwr", "flwr"),), "train"),
    "onnx-export": BackendSpec("onnx-export", (("onnx", "onnx"), ("torch", "torch==2.13.0")), "export"),
    "tflite-export": BackendSpec(
        "tflite-export", (("litert_torch", "litert-torch"), ("torchao", "torchao")), "export"
    ),
}


def module_present(module: str) -> bool:
    """True when ``module`` is importable, found without importing it (:func:`importlib.util.find_spec`)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(backend: str) -> list[str]:
    """Pip names missing for ``backend`` (empty when it is usable)."""
    spec = BACKENDS[backend]
    present = [module_present(mod) for mod, _ in spec.modules]
    if spec.any_of:
        return [] if any(present) else [spec.modules[-1][1]]
    return [pip for (_, pip), ok in zip(spec.modules, present, strict=True) if not ok]


def is_available(backend: str) -> bool:
    return not missing_modules(backend)


def require(backend: str) -> None:
    """Raise :class:`BackendMissing` with an install hint when ``backend`` is not usable."""
    missing = missing_modules(backend)
    if missing:
        raise BackendMissing(backend, missing, BACKENDS[backend].extra)


def availability_table() -> dict[str, list[str]]:
    """Backend name → missing pip names, for every known backend."""
    return {name: missing_modules(name) for name in BACKENDS}


__all__ = ["BACKENDS", "BackendSpec", "availability_table", "is_available", "missing_modules", "module_present",
           "require"]
