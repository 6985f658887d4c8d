"""The camera node's sample store as a ClientApp sample source (read-only, while the daemon writes).

The SuperNode of a camera node names ``sample-source = "device_runtime.fl.samples:load"`` and
``data-dir`` in its node config; :func:`aiotwin.flower.samples.load_samples` calls :func:`load` in
the ClientApp process. The daemon holds the store's writer lock, so this opens the SQLite file
read-only (WAL readers never block the writer) and reads only labelled rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.flower import ClientTrainError
from device_runtime._exceptions import SampleStoreError
from device_runtime.samples import SAMPLES_FILE, SampleStore


def read_store(path: Path, labels: Sequence[str],
               size: tuple[int, int]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Labelled crops of the store at ``path`` as N×H×W×3 RGB and class indices (unknown labels skipped)."""
    store = SampleStore(path, readonly=True)
    try:
        return store.arrays(labels, size)
    finally:
        store.close()


def load(node_config: Mapping[str, Any], labels: Sequence[str],
         size: tuple[int, int]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Sample source of :mod:`aiotwin.flower.samples`: the store in node config ``data-dir``."""
    data_dir = node_config.get("data-dir")
    if not data_dir:
        raise ClientTrainError("node config has no data-dir: cannot find the sample store")
    path = Path(str(data_dir)) / SAMPLES_FILE
    if not path.is_file():
        raise ClientTrainError(f"no sample store at {path} yet (the node keeps samples while it runs)")
    try:
        return read_store(path, labels, size)
    except SampleStoreError as exc:
        raise ClientTrainError(str(exc)) from exc


__all__ = ["load", "read_store"]
