"""Inference engines: one small module per runtime behind the one :class:`Engine` protocol.

``open_engine(bundle, variant)`` verifies the variant file, picks the binding from
:data:`aiotwin.bundle.VARIANT_RUNTIME` and loads it; ``engine_available(variant)`` says why a
variant cannot run here (None when it can); ``io_shapes(path, variant)`` reads the I/O shapes a model
file declares (bundle verification). :mod:`aiotwin.engines.measure` measures an open engine
(``classify_all``, ``latency_ms``). Bindings (:mod:`aiotwin.engines.onnx`,
:mod:`aiotwin.engines.litert`, :mod:`aiotwin.engines.torch_engine`) import their runtime lazily:
importing this package imports none of onnxruntime, LiteRT or torch.

Engines live in the core, not in ``device_runtime``, because gateway inference instances run the same
engines and roles never import each other.
"""

from aiotwin.engines._common import EngineOptions
from aiotwin.engines._registry import (
    DEFAULT_DELEGATE,
    ENGINE_RUNTIME,
    TORCH_REFERENCE,
    engine_available,
    io_shapes,
    open_engine,
)
from aiotwin.engines.base import Engine

__all__ = [
    "DEFAULT_DELEGATE", "ENGINE_RUNTIME", "TORCH_REFERENCE", "Engine", "EngineOptions", "engine_available",
    "io_shapes", "open_engine",
]
