"""The engine registry: variant id → binding module, availability reasons, and :func:`open_engine`.

Bindings are imported only when a variant that needs them is opened, so importing
:mod:`aiotwin.engines` never loads onnxruntime, LiteRT or torch.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiotwin._exceptions import BackendMissing, EngineError
from aiotwin.availability import BACKENDS, missing_modules, require
from aiotwin.bundle import VARIANT_RUNTIME, Bundle
from aiotwin.engines._common import EngineOptions
from aiotwin.engines.base import Engine

_LOG = logging.getLogger(__name__)

DEFAULT_DELEGATE = "libedgetpu.so.1"
EDGETPU_VARIANT = "tflite-edgetpu"
# Not a bundle variant: the fp32 weights run through torch, for benchmarks only.
TORCH_REFERENCE = "torch-fp32"
ENGINE_RUNTIME: dict[str, str] = {**VARIANT_RUNTIME, TORCH_REFERENCE: "torch"}

Factory = Callable[[Bundle, str, Path, EngineOptions], Engine]


def _create_onnx(bundle: Bundle, variant: str, path: Path, opts: EngineOptions) -> Engine:
    from aiotwin.engines import onnx

    return onnx.create(bundle, variant, path, opts)


def _create_litert(bundle: Bundle, variant: str, path: Path, opts: EngineOptions) -> Engine:
    from aiotwin.engines import litert

    return litert.create(bundle, variant, path, opts)


def _create_torch(bundle: Bundle, variant: str, path: Path, opts: EngineOptions) -> Engine:
    from aiotwin.engines import torch_engine

    return torch_engine.create(bundle, variant, path, opts)


FACTORIES: dict[str, Factory] = {"onnxruntime": _create_onnx, "litert": _create_litert, "torch": _create_torch}


@functools.lru_cache(maxsize=8)
def _library_loads(name: str) -> str | None:
    """None when the shared library ``name`` loads, else the loader's message."""
    try:
        ctypes.CDLL(name)
    except OSError as exc:
        return str(exc)
    return None


def engine_available(variant: str, *, delegate: str = DEFAULT_DELEGATE) -> str | None:
    """None when ``variant`` can run here, else the reason (with an install hint).

    Looks only (``find_spec`` and, for ``tflite-edgetpu``, loading the delegate library): no runtime
    is imported. Used by variant selection, ``aiotwin-device doctor`` and test skips.
    """
    runtime = ENGINE_RUNTIME.get(variant)
    if runtime is None:
        return f"unknown variant {variant!r} (known: {', '.join(ENGINE_RUNTIME)})"
    missing = missing_modules(runtime)
    if missing:
        return str(BackendMissing(runtime, missing, BACKENDS[runtime].extra))
    if variant == EDGETPU_VARIANT:
        problem = _library_loads(delegate)
        if problem is not None:
            return f"Edge TPU runtime {delegate} not loadable ({problem}): install libedgetpu1-std from " \
                "the Coral apt repository and attach the Coral"
    return None


def open_engine(
    bundle: Bundle,
    variant: str,
    *,
    threads: int = 2,
    providers: list[str] | None = None,
    cache_dir: Path | None = None,
    cache_key: str | None = None,
    delegate: str = DEFAULT_DELEGATE,
    verify: bool = True,
    spin: bool = False,
) -> Engine:
    """Open ``variant`` of ``bundle`` with the runtime it needs.

    Raises
    ------
    BundleError
        The bundle has no such variant.
    BundleIntegrityError
        The variant file's size or sha256 differs from the manifest (checked before loading), or the
        model's input shape differs from the manifest's.
    BackendMissing
        The runtime is not installed (the message names the extra to install).
    EngineError
        The runtime cannot load or run the file (bad model, delegate missing, provider absent).
    """
    runtime = ENGINE_RUNTIME.get(variant)
    if runtime is None:
        raise EngineError(f"unknown variant {variant!r} (known: {', '.join(ENGINE_RUNTIME)})")
    path = _variant_file(bundle, variant, verify)
    require(runtime)
    opts = EngineOptions(threads, tuple(providers) if providers else None, cache_dir, cache_key, delegate, spin)
    engine = FACTORIES[runtime](bundle, variant, path, opts)
    _LOG.info("engine %s of %s v%d on %s", variant, bundle.manifest.name, bundle.manifest.version,
              engine.provider)
    return engine


def io_shapes(path: Path, variant: str) -> tuple[list[Any], list[Any]]:
    """Input and output shapes the ``variant`` file at ``path`` declares, read by the runtime that runs it.

    For checking a file against a manifest (:func:`aiotwin.models.verify.check_shapes`): nothing is
    verified or run, and the file need not belong to a bundle. Symbolic dimensions (a dynamic batch)
    come back as the runtime gives them (a string or None for onnxruntime).

    Raises
    ------
    BackendMissing
        The runtime is not installed.
    EngineError
        The variant has no model file of its own (``torch-fp32``), or the runtime cannot load the file.
    """
    runtime = VARIANT_RUNTIME.get(variant)
    if runtime is None:
        raise EngineError(f"cannot read shapes of variant {variant!r} (model files: {', '.join(VARIANT_RUNTIME)})")
    require(runtime)
    if runtime == "onnxruntime":
        from aiotwin.engines import onnx

        return onnx.io_shapes(path, variant)
    from aiotwin.engines import litert

    return litert.io_shapes(path, variant)


def _variant_file(bundle: Bundle, variant: str, verify: bool) -> Path:
    if variant == TORCH_REFERENCE:  # runs the fp32 weights: verify the file they come from
        return bundle.verify_variant("onnx-fp32") if verify else bundle.variant_path("onnx-fp32")
    return bundle.verify_variant(variant) if verify else bundle.variant_path(variant)


__all__ = [
    "DEFAULT_DELEGATE", "ENGINE_RUNTIME", "FACTORIES", "TORCH_REFERENCE", "engine_available", "io_shapes",
    "open_engine",
]
