"""Full bundle verification: every variant's size and sha256, and its declared tensor shapes.

:meth:`aiotwin.bundle.Bundle.verify_variant` checks bytes (size, sha256); :func:`verify_bundle`
adds what needs a runtime: the file loads, its input is the manifest's ``H×W×3`` in the variant's
layout, and it outputs one score per label. Any mismatch raises
:class:`aiotwin.BundleIntegrityError`, so the caller keeps the previous model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from aiotwin._exceptions import BundleIntegrityError, EngineError
from aiotwin.bundle import Bundle, load_bundle


def _dims(shape: list[Any]) -> list[int | None]:
    return [int(d) if isinstance(d, int | np.integer) and d > 0 else None for d in shape]


def expected_input(bundle: Bundle, variant: str) -> list[int | None]:
    """``[batch, …]`` in the variant's layout (``None``: any batch)."""
    spec = bundle.manifest.input
    if bundle.manifest.variants[variant].layout == "nchw":
        return [None, spec.channels, spec.height, spec.width]
    return [None, spec.height, spec.width, spec.channels]


def check_shapes(bundle: Bundle, variant: str, path: Path) -> None:
    """Raise :class:`BundleIntegrityError` when ``path``'s I/O shapes disagree with the manifest."""
    from aiotwin.engines import io_shapes

    try:
        got_in, got_out = io_shapes(path, variant)
    except EngineError as exc:
        raise BundleIntegrityError(f"{path}: {variant} does not load: {exc}") from exc
    want_in = expected_input(bundle, variant)
    dims_in = _dims(got_in)
    if len(dims_in) != 4 or dims_in[1:] != want_in[1:]:
        raise BundleIntegrityError(f"{path}: input shape {got_in} != manifest {want_in}")
    dims_out = _dims(got_out)
    if len(dims_out) != 2 or dims_out[1] != len(bundle.manifest.labels):
        raise BundleIntegrityError(
            f"{path}: output shape {got_out} does not give {len(bundle.manifest.labels)} class scores"
        )


def verify_bundle(bundle: Bundle | Path, variants: Iterable[str] | None = None, *,
                  shapes: bool = True) -> Bundle:
    """Verify ``variants`` (default: all) of a bundle; return it, or raise a ``BundleError``.

    ``shapes=False`` checks bytes only (no runtime needed).
    """
    b = bundle if isinstance(bundle, Bundle) else load_bundle(Path(bundle))
    for variant in variants if variants is not None else list(b.manifest.variants):
        path = b.verify_variant(variant)
        if shapes and variant != "tflite-edgetpu":  # needs the Edge TPU delegate to load
            check_shapes(b, variant, path)
    return b


__all__ = ["check_shapes", "expected_input", "verify_bundle"]
