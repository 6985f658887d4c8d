"""Where a ClientApp finds its node's labelled samples (numpy only).

A SuperNode's ``--node-config`` names the source:

- ``samples-npz = "/path/x.npz"``: arrays ``x`` (N×H×W×3 uint8 RGB) and ``y`` (class indices);
  for tests and experiments;
- ``sample-source = "package.module:function"``: ``function(node_config, labels, (h, w))`` returns
  ``(x, y)`` as above. A camera node names :func:`device_runtime.fl.samples.load`, which reads the
  node's sample store read-only. The reference keeps the shared ClientApp free of role imports.

``max-samples`` (> 0) keeps only the newest that many samples.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from aiotwin.flower._exceptions import ClientTrainError
from aiotwin.flower.protocol import NODE_MAX_SAMPLES, NODE_SAMPLE_SOURCE, NODE_SAMPLES_NPZ
from aiotwin.models.task import ArrayStore

SampleArrays = tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]
SampleSource = Callable[[Mapping[str, Any], Sequence[str], tuple[int, int]], SampleArrays]
DEFAULT_INPUT_SIZE = (64, 64)  # the vehicle classifier's input (aiotwin.models.recipe.INPUT_SIZE)
_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def npz_samples(path: Path) -> SampleArrays:
    """``x`` and ``y`` of an ``.npz`` (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["x"], np.uint8), np.asarray(data["y"], np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise ClientTrainError(f"samples file {path} is unreadable or lacks x/y arrays: {exc}") from exc


def save_npz_samples(path: Path, store: ArrayStore) -> None:
    x, y = store.arrays()
    np.savez(path, x=x, y=y)


def resolve_source(ref: str) -> SampleSource:
    if not _REF.match(ref):
        raise ClientTrainError(f"sample-source {ref!r} must look like 'package.module:function'")
    module_name, attr = ref.split(":")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ClientTrainError(f"sample-source {ref!r} cannot be imported: {exc}") from exc
    if not callable(func):
        raise ClientTrainError(f"sample-source {ref!r} is not callable")
    return cast("SampleSource", func)


def load_samples(node_config: Mapping[str, Any], labels: Sequence[str],
                 size: tuple[int, int] | None) -> ArrayStore:
    """The node's labelled samples as a store; :class:`ClientTrainError` when there are none."""
    npz, ref = node_config.get(NODE_SAMPLES_NPZ), node_config.get(NODE_SAMPLE_SOURCE)
    if npz:
        x, y = npz_samples(Path(str(npz)))
    elif ref:
        x, y = resolve_source(str(ref))(node_config, labels, size or DEFAULT_INPUT_SIZE)
    else:
        raise ClientTrainError(f"this SuperNode names no samples (node-config {NODE_SAMPLES_NPZ} or "
                               f"{NODE_SAMPLE_SOURCE})")
    limit = node_config.get(NODE_MAX_SAMPLES, 0)
    if isinstance(limit, int) and limit > 0:
        x, y = x[-limit:], y[-limit:]
    if len(y) == 0:
        raise ClientTrainError("no labelled samples on this node yet")
    if np.any((y < 0) | (y >= len(labels))):
        raise ClientTrainError(f"sample labels must be class indices 0..{len(labels) - 1}")
    try:
        return ArrayStore(x, y)
    except ValueError as exc:
        raise ClientTrainError(f"samples are malformed: {exc}") from exc


__all__ = ["DEFAULT_INPUT_SIZE", "SampleArrays", "SampleSource", "load_samples", "npz_samples", "resolve_source",
           "save_npz_samples"]
