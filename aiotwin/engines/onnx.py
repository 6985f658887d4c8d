"""onnxruntime binding: ``onnx-fp32``, ``onnx-int8`` (static QDQ) and ``onnx-fp16``.

Execution providers, best first, among ``onnxruntime.get_available_providers()``: TensorRT, CUDA,
CPU (CPU is always kept last as the fallback). TensorRT builds an engine per model and GPU; it is
cached in ``cache_dir/cache_key`` where ``cache_key`` is a hardware fingerprint the caller builds
with :func:`trt_cache_key` (GPU model, driver, onnxruntime and TensorRT versions), so a driver or
runtime upgrade never loads a stale engine. ``onnx-fp16`` asks TensorRT for fp16 kernels.

onnxruntime is imported inside :func:`create` only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BundleIntegrityError, EngineError
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
from aiotwin.models.preprocess import normalize

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
AUTO_PROVIDERS: tuple[str, ...] = (TRT, CUDA, CPU)
# onnxruntime severity 3 = ERROR: "some nodes were not assigned to the preferred provider" is expected
# with TensorRT/CUDA and is not worth a log line per session.
ORT_LOG_SEVERITY = 3
ORT_ALLOW_SPINNING = "session.intra_op.allow_spinning"
_ORT_TYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def trt_cache_key(*parts: str) -> str:
    """A file-name-safe fingerprint, e.g. ``trt_cache_key(gpu_model, driver, ort_version, trt_version)``."""
    cleaned = [_KEY_CHARS.sub("-", p.strip()).strip("-") for p in parts if p and p.strip()]
    if not cleaned:
        raise ValueError("a TensorRT cache key needs at least one non-empty part")
    return "_".join(cleaned)


def choose_providers(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Providers to ask for, best first; CPU is always last. Pure: ``available`` is passed in."""
    if requested:
        chosen = [p for p in requested if p in available]
        if not chosen:
            raise EngineError(
                f"none of the requested providers {list(requested)} is available "
                f"(this onnxruntime has: {', '.join(available)})"
            )
    else:
        chosen = [p for p in AUTO_PROVIDERS if p in available]
    return [p for p in chosen if p != CPU] + [CPU]


def provider_options(providers: Sequence[str], variant: str, opts: EngineOptions) -> list[dict[str, str]]:
    """Per-provider option dicts (same order as ``providers``)."""
    out: list[dict[str, str]] = []
    for p in providers:
        if p == TRT:
            out.append(_trt_options(variant, opts))
        else:
            out.append({})
    return out


def _trt_options(variant: str, opts: EngineOptions) -> dict[str, str]:
    o = {"trt_fp16_enable": "True" if variant == "onnx-fp16" else "False"}
    if opts.cache_dir is not None:
        path = opts.cache_dir / (opts.cache_key or "default")
        path.mkdir(parents=True, exist_ok=True)
        o |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(path),
              "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(path)}
    return o


class OnnxEngine:
    """One onnxruntime session; see :class:`aiotwin.engines.Engine`."""

    def __init__(self, session: Any, bundle: Bundle, variant: str, *, layout: str, dtype: type[Any],
                 fixed_batch: int | None) -> None:
        self._session: Any = session
        self._variant = variant
        self._spec = bundle.manifest.input
        self._classes = len(bundle.manifest.labels)
        self._output = output_kind(bundle)
        self._layout = layout
        self._dtype = dtype
        self._fixed_batch = fixed_batch
        self._in = session.get_inputs()[0].name
        self._out = session.get_outputs()[0].name
        self._provider = str(session.get_providers()[0])

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
        t = normalize(x, self._spec, self._layout).astype(self._dtype, copy=False)
        step = self._fixed_batch or len(t)
        raw = np.concatenate([self._run(_pad(t[i:i + step], step)) for i in range(0, len(t), step)])
        return to_probabilities(raw[: len(t)], self._classes, self._output)

    def _run(self, t: npt.NDArray[Any]) -> npt.NDArray[np.floating[Any]]:
        if self._session is None:
            raise EngineError(f"{self._variant}: engine is closed")
        try:
            out = self._session.run([self._out], {self._in: t})[0]
        except Exception as exc:  # onnxruntime raises its own pybind classes
            raise EngineError(f"{self._variant}: onnxruntime run failed: {exc}") from exc
        return np.asarray(out).astype(np.float32, copy=False)

    def close(self) -> None:
        self._session = None


def _pad(t: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
    if len(t) == size:
        return t
    return np.concatenate([t, np.zeros((size - len(t), *t.shape[1:]), dtype=t.dtype)])


def _session_options(ort: Any, threads: int, spin: bool) -> Any:
    """Options for an edge node: no busy-waiting threads unless asked, no per-shape memory plans.

    - ``session.intra_op.allow_spinning = 0`` (``spin`` False, the default): idle intra-op threads
      sleep instead of spinning; with several sessions in one process (hot swap, gateway instances)
      on a 2-core board, spinning pools stall each other, and a camera pipeline that calls once per
      frame would burn CPU between calls. ``spin`` True halves batch-1 latency of the tiny edge net
      (0.13 → 0.08 ms here) for a process that serves one session flat out.
    - ``enable_mem_pattern = False``: no memory plan is cached per input shape (the batch size changes
      from frame to frame, each new size would add one).
    - The CPU memory arena stays on: without it every tensor is a malloc/free from the intra-op
      threads, which measured 3-5 MB *more* resident (glibc per-thread arenas) and slower batches
      (docs/engines.md, onnxruntime).
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, threads)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = ORT_LOG_SEVERITY
    so.enable_mem_pattern = False
    so.add_session_config_entry(ORT_ALLOW_SPINNING, "1" if spin else "0")
    return so


def _input_layout(bundle: Bundle, variant: str, session: Any) -> tuple[str, type[Any], int | None]:
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(session.get_outputs()) < 1:
        raise BundleIntegrityError(f"{bundle.path}: variant {variant} must have one input and an output")
    inp = inputs[0]
    if inp.type not in _ORT_TYPES:
        raise EngineError(f"{variant}: unsupported input type {inp.type} (float32/float16 expected)")
    shape = list(inp.shape)
    layout = bundle.manifest.variants[variant].layout
    if len(shape) != 4:
        raise BundleIntegrityError(f"{bundle.path}: variant {variant} input has rank {len(shape)}, expected 4")
    hw = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    if all(isinstance(d, int) for d in hw):
        check_model_input(bundle, variant, hw)
    fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    return layout, _ORT_TYPES[inp.type], fixed


def _open_session(ort: Any, path: Path, variant: str, providers: list[str], opts: EngineOptions) -> Any:
    try:
        return ort.InferenceSession(
            str(path), sess_options=_session_options(ort, opts.threads, opts.spin), providers=providers,
            provider_options=provider_options(providers, variant, opts),
        )
    except Exception as exc:  # onnxruntime raises its own pybind classes (Fail, InvalidGraph, …)
        raise EngineError(f"{variant}: onnxruntime cannot load {path.name} with {providers}: {exc}") from exc


def create(bundle: Bundle, variant: str, path: Path, opts: EngineOptions) -> OnnxEngine:
    """Load ``path`` (a verified variant file of ``bundle``) into an onnxruntime session."""
    import onnxruntime as ort

    providers = choose_providers(opts.providers, ort.get_available_providers())
    session = _open_session(ort, path, variant, providers, opts)
    layout, dtype, fixed = _input_layout(bundle, variant, session)
    return OnnxEngine(session, bundle, variant, layout=layout, dtype=dtype, fixed_batch=fixed)


def io_shapes(path: Path, variant: str) -> tuple[list[Any], list[Any]]:
    """Shapes of the first input and output ``path`` declares (symbolic dimensions as strings), on the CPU."""
    import onnxruntime as ort

    session = _open_session(ort, path, variant, [CPU], EngineOptions(threads=1))
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if not inputs or not outputs:
        raise EngineError(f"{variant}: {path.name} has no input or no output")
    return list(inputs[0].shape), list(outputs[0].shape)


__all__ = [
    "AUTO_PROVIDERS", "CPU", "CUDA", "TRT", "OnnxEngine", "choose_providers", "create", "io_shapes",
    "provider_options", "trt_cache_key",
]
