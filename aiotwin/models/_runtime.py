"""Run exported variants in their own runtime (ONNX Runtime, LiteRT) to measure them.

:func:`open_runner` prefers ``aiotwin.engines.open_engine`` (the runtime's real engines) and falls
back to the minimal private runners below while that package is not there. Runners follow the
:class:`aiotwin.engines.base.Engine` contract: ``classify(N×H×W×3 uint8) → N×C float32 probs``.
No torch here: this is what the bundle acceptance test uses.
"""

from __future__ import annotations

import importlib
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BundleIntegrityError
from aiotwin.bundle import VARIANT_RUNTIME, Bundle, InputSpec
from aiotwin.engines.base import Engine
from aiotwin.models.preprocess import normalize, quantize, softmax

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


class OrtRunner:
    """An ONNX Runtime CPU session over one ``.onnx`` variant (NCHW float input, logits output)."""

    def __init__(self, path: Path, spec: InputSpec, variant: str, threads: int = 2) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._spec = spec
        self._variant = variant

    @property
    def variant(self) -> str:
        return self._variant

    @property
    def provider(self) -> str:
        return "CPUExecutionProvider"

    def classify(self, batch: U8) -> F32:
        logits = self._session.run(None, {self._input: normalize(batch, self._spec, "nchw")})[0]
        return softmax(np.asarray(logits))

    def close(self) -> None:
        del self._session


def _interpreter(path: Path, threads: int) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tflite_runtime.interpreter import Interpreter
    return Interpreter(model_path=str(path), num_threads=threads)


class LiteRunner:
    """A LiteRT interpreter over one full-integer ``.tflite`` variant (NHWC int8 in and out)."""

    def __init__(self, path: Path, spec: InputSpec, variant: str, threads: int = 2) -> None:
        self._it = _interpreter(path, threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]
        self._out = self._it.get_output_details()[0]
        self._spec = spec
        self._variant = variant

    @property
    def variant(self) -> str:
        return self._variant

    @property
    def provider(self) -> str:
        return "litert-xnnpack"

    def _one(self, x: F32) -> F32:
        scale, zero = self._in["quantization"]
        self._it.set_tensor(self._in["index"], quantize(x[None], scale, zero, self._in["dtype"]))
        self._it.invoke()
        q = self._it.get_tensor(self._out["index"]).astype(np.float32)
        o_scale, o_zero = self._out["quantization"]
        out: F32 = ((q - o_zero) * o_scale)[0] if o_scale else q[0]
        return out

    def classify(self, batch: U8) -> F32:
        x = normalize(batch, self._spec, "nhwc")
        return softmax(np.stack([self._one(xi) for xi in x]))

    def close(self) -> None:
        del self._it


def _private_runner(bundle: Bundle, variant: str, threads: int) -> Engine:
    path = bundle.verify_variant(variant)
    spec = bundle.manifest.input
    if VARIANT_RUNTIME[variant] == "onnxruntime":
        return OrtRunner(path, spec, variant, threads)
    return LiteRunner(path, spec, variant, threads)


def open_runner(bundle: Bundle, variant: str, threads: int = 2) -> Engine:
    """An engine for ``variant``: ``aiotwin.engines.open_engine`` when present, else a private runner."""
    try:
        engines = importlib.import_module("aiotwin.engines")
    except ImportError:
        engines = None
    opener = getattr(engines, "open_engine", None)
    if opener is not None:
        engine: Engine = opener(bundle, variant, threads=threads)
        return engine
    return _private_runner(bundle, variant, threads)


def predict(engine: Engine, x: U8, batch: int = 64) -> F32:
    """Probabilities for all of ``x`` in batches."""
    return np.concatenate([engine.classify(x[i:i + batch]) for i in range(0, len(x), batch)])


def latency_ms(engine: Engine, crop: U8, runs: int = 200, warmup: int = 20) -> float:
    """p50 wall time of ``classify`` on one crop (batch 1), in milliseconds."""
    one = crop[None] if crop.ndim == 3 else crop[:1]
    for _ in range(warmup):
        engine.classify(one)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.classify(one)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def io_shapes(path: Path, variant: str) -> tuple[list[Any], list[Any]]:
    """Input and output shapes declared by a variant file (symbolic batch as a string/-1)."""
    try:
        if VARIANT_RUNTIME[variant] == "onnxruntime":
            import onnxruntime as ort

            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            return list(sess.get_inputs()[0].shape), list(sess.get_outputs()[0].shape)
        it = _interpreter(path, 1)
        return list(it.get_input_details()[0]["shape"]), list(it.get_output_details()[0]["shape"])
    except (RuntimeError, ValueError, OSError) as exc:
        raise BundleIntegrityError(f"{path}: {variant} does not load: {exc}") from exc
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf classes
        if type(exc).__module__.startswith("onnxruntime"):
            raise BundleIntegrityError(f"{path}: {variant} does not load: {exc}") from exc
        raise


__all__ = ["LiteRunner", "OrtRunner", "io_shapes", "latency_ms", "open_runner", "predict"]
