"""What every engine binding shares: input checks, output checks and the logits → probabilities step.

Kept free of heavy imports (numpy only) so the registry and the bindings can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BundleIntegrityError, EngineError
from aiotwin.bundle import Bundle, InputSpec
from aiotwin.models.preprocess import softmax

U8Batch = npt.NDArray[np.uint8]
F32Batch = npt.NDArray[np.float32]

# manifest ``extra.output``: what the variant files emit. Exported nets emit logits (aiotwin.models.nets).
OUTPUT_LOGITS = "logits"
OUTPUT_PROBABILITIES = "probabilities"


@dataclass(frozen=True)
class EngineOptions:
    """Runtime knobs handed from :func:`aiotwin.engines.open_engine` to a binding's ``create``."""

    threads: int = 2
    providers: tuple[str, ...] | None = None
    cache_dir: Path | None = None
    cache_key: str | None = None
    delegate: str = "libedgetpu.so.1"
    spin: bool = False  # onnxruntime: intra-op threads busy-wait between calls (lower latency, more CPU)


def check_batch(batch: object, spec: InputSpec) -> U8Batch:
    """Return ``batch`` when it is N×H×W×3 ``uint8`` at the model size, else raise :class:`EngineError`."""
    if not isinstance(batch, np.ndarray):
        raise EngineError(f"classify needs a numpy array, got {type(batch).__name__}")
    want = (spec.height, spec.width, spec.channels)
    if batch.ndim != 4 or tuple(batch.shape[1:]) != want:
        raise EngineError(f"classify needs N×{want[0]}×{want[1]}×{want[2]} crops, got shape {batch.shape}")
    if batch.dtype != np.uint8:
        raise EngineError(f"classify needs uint8 crops, got {batch.dtype}")
    return batch


def output_kind(bundle: Bundle) -> str:
    """``logits`` (default) or ``probabilities``, from the manifest's ``extra.output``."""
    kind = bundle.manifest.extra.get("output", OUTPUT_LOGITS)
    if kind not in (OUTPUT_LOGITS, OUTPUT_PROBABILITIES):
        raise BundleIntegrityError(f"{bundle.path}: extra.output must be logits or probabilities, got {kind!r}")
    return str(kind)


def to_probabilities(raw: npt.NDArray[np.floating], classes: int, kind: str) -> F32Batch:
    """Check the N×C shape of a model output and turn it into probabilities."""
    if raw.ndim != 2 or raw.shape[1] != classes:
        raise EngineError(f"model output has shape {raw.shape}, expected N×{classes}")
    if kind == OUTPUT_PROBABILITIES:
        return raw.astype(np.float32, copy=False)
    return softmax(raw)


def empty_result(classes: int) -> F32Batch:
    return np.zeros((0, classes), dtype=np.float32)


def check_model_input(bundle: Bundle, variant: str, hw: tuple[object, object]) -> None:
    """Raise :class:`BundleIntegrityError` when a model's input H×W differs from the manifest's."""
    spec = bundle.manifest.input
    if hw != (spec.height, spec.width):
        raise BundleIntegrityError(
            f"{bundle.path}: variant {variant} takes input {hw[0]}×{hw[1]}, manifest says "
            f"{spec.height}×{spec.width}"
        )


__all__ = [
    "OUTPUT_LOGITS", "OUTPUT_PROBABILITIES", "EngineOptions", "F32Batch", "U8Batch", "check_batch", "check_model_input",
    "empty_result", "output_kind", "to_probabilities",
]
