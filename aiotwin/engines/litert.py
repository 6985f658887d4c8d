"""LiteRT (TFLite) binding: ``tflite-int8`` on CPU (XNNPACK) and ``tflite-edgetpu`` on a Coral.

The interpreter comes from ``tflite_runtime`` when installed (the small wheel of older boards), else
from ``ai_edge_litert``. Full-integer models take and give int8: the input scale/zero point and the
output's are read from the model (``get_input_details``/``get_output_details``), never hard-coded.

Batches: the interpreter is resized to the batch size when it changes (one ``allocate_tensors``),
which measured faster than invoking batch-1 N times (docs/engines.md); if a model refuses the
resize, or runs on the Edge TPU (compiled for a fixed shape), batches run item by item.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BackendMissing, BundleIntegrityError, EngineError
from aiotwin.bundle import Bundle
from aiotwin.engines._common import (
    EngineOptions,
    F32Batch,
    check_batch,
    check_model_input,
    empty_result,
    output_kind,
    to_probabilities,
)
from aiotwin.models.preprocess import normalize, quantize

EDGETPU_VARIANT = "tflite-edgetpu"
_INT_TYPES: tuple[type[Any], ...] = (np.int8, np.uint8)


def interpreter_module() -> tuple[Any, str]:
    """``(module, name)`` of the first importable interpreter: tflite_runtime, then ai_edge_litert."""
    try:
        from tflite_runtime import interpreter as tfl_rt
    except ImportError:
        pass
    else:
        return tfl_rt, "tflite_runtime"
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError as exc:
        raise BackendMissing("litert", ["ai-edge-litert"], "infer") from exc
    return litert, "litert"


def load_edgetpu_delegate(module: Any, delegate: str) -> Any:
    """The Edge TPU delegate, or :class:`EngineError` saying why it cannot load."""
    hint = "is libedgetpu installed (Coral 'edgetpu' apt repository) and the Coral attached?"
    try:
        # Pre-check: a missing library makes load_delegate raise OSError and leave a half-built
        # Delegate whose __del__ raises AttributeError at garbage collection (tflite-export.md).
        ctypes.CDLL(delegate)
    except OSError as exc:
        raise EngineError(f"Edge TPU delegate {delegate!r} cannot be loaded: {exc}; {hint}") from exc
    try:
        return module.load_delegate(delegate)
    except (OSError, ValueError) as exc:
        raise EngineError(f"Edge TPU delegate {delegate!r} failed: {exc}; {hint}") from exc


def _quant(detail: dict[str, Any]) -> tuple[float, int]:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


class LiteRtEngine:
    """One LiteRT interpreter; see :class:`aiotwin.engines.Engine`. Calls are serialised by a lock."""

    def __init__(self, interpreter: Any, bundle: Bundle, variant: str, provider: str, *, resize: bool) -> None:
        self._it: Any = interpreter
        self._variant = variant
        self._provider = provider
        self._spec = bundle.manifest.input
        self._classes = len(bundle.manifest.labels)
        self._output = output_kind(bundle)
        self._in = interpreter.get_input_details()[0]
        self._outd = interpreter.get_output_details()[0]
        self._in_q = _quant(self._in)
        self._out_q = _quant(self._outd)
        self._resize = resize
        self._size = int(self._in["shape"][0])
        self._lock = threading.Lock()

    @property
    def variant(self) -> str:
        return self._variant

    @property
    def provider(self) -> str:
        return self._provider

    def classify(self, batch: npt.NDArray[np.uint8]) -> F32Batch:
        x = check_batch(batch, self._spec)
        if len(x) == 0:
            return empty_result(self._classes)
        t = self._to_input(normalize(x, self._spec, "nhwc"))
        with self._lock:
            raw = self._run(t)
        return to_probabilities(self._dequantize(raw), self._classes, self._output)

    def _to_input(self, t: F32Batch) -> npt.NDArray[Any]:
        dtype = self._in["dtype"]
        if dtype in _INT_TYPES:
            scale, zero_point = self._in_q
            return quantize(t, scale, zero_point, dtype)
        return t.astype(dtype, copy=False)

    def _dequantize(self, raw: npt.NDArray[Any]) -> F32Batch:
        if raw.dtype in _INT_TYPES:
            scale, zero_point = self._out_q
            return ((raw.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
        return raw.astype(np.float32, copy=False)

    def _run(self, t: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if self._it is None:
            raise EngineError(f"{self._variant}: engine is closed")
        if self._resize and len(t) > 1:
            try:
                self._resize_to(len(t))
            except EngineError:
                self._resize = False  # the model refuses other batch sizes: item by item from now on
            else:
                return self._invoke(t)
        self._resize_to(1)
        return np.concatenate([self._invoke(t[i:i + 1]) for i in range(len(t))])

    def _resize_to(self, n: int) -> None:
        if n == self._size:
            return
        try:
            self._it.resize_tensor_input(self._in["index"], [n, *self._in["shape"][1:]])
            self._it.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"{self._variant}: cannot resize the input to batch {n}: {exc}") from exc
        self._size = n

    def _invoke(self, t: npt.NDArray[Any]) -> npt.NDArray[Any]:
        try:
            self._it.set_tensor(self._in["index"], t)
            self._it.invoke()
            return np.array(self._it.get_tensor(self._outd["index"]))
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"{self._variant}: LiteRT invoke failed: {exc}") from exc

    def close(self) -> None:
        self._it = None


def _check_io(bundle: Bundle, variant: str, interpreter: Any) -> None:
    ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(ins) != 1 or not outs:
        raise BundleIntegrityError(f"{bundle.path}: variant {variant} must have one input and an output")
    shape = [int(d) for d in ins[0]["shape"]]
    if len(shape) != 4 or shape[3] != 3:
        raise BundleIntegrityError(f"{bundle.path}: variant {variant} input {shape} is not N×H×W×3")
    check_model_input(bundle, variant, (shape[1], shape[2]))


def _open_interpreter(module: Any, path: Path, variant: str, threads: int, delegates: list[Any] | None = None,
                      *, allocate: bool = True) -> Any:
    try:
        it = module.Interpreter(model_path=str(path), num_threads=max(1, threads), experimental_delegates=delegates)
        if allocate:
            it.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise EngineError(f"{variant}: LiteRT cannot load {path.name}: {exc}") from exc
    return it


def create(bundle: Bundle, variant: str, path: Path, opts: EngineOptions) -> LiteRtEngine:
    """Load ``path`` (a verified variant file of ``bundle``) into a LiteRT interpreter."""
    module, name = interpreter_module()
    edgetpu = variant == EDGETPU_VARIANT
    delegates = [load_edgetpu_delegate(module, opts.delegate)] if edgetpu else None
    it = _open_interpreter(module, path, variant, opts.threads, delegates)
    _check_io(bundle, variant, it)
    provider = "edgetpu" if edgetpu else f"{name}-xnnpack"
    return LiteRtEngine(it, bundle, variant, provider, resize=not edgetpu)


def io_shapes(path: Path, variant: str) -> tuple[list[Any], list[Any]]:
    """Shapes of the first input and output ``path`` declares (read without allocating tensors)."""
    module, _ = interpreter_module()
    it = _open_interpreter(module, path, variant, 1, allocate=False)
    ins, outs = it.get_input_details(), it.get_output_details()
    if not ins or not outs:
        raise EngineError(f"{variant}: {path.name} has no input or no output")
    return [int(d) for d in ins[0]["shape"]], [int(d) for d in outs[0]["shape"]]


__all__ = ["EDGETPU_VARIANT", "LiteRtEngine", "create", "interpreter_module", "io_shapes", "load_edgetpu_delegate"]
