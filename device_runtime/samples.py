"""The node's sample store: privacy-filtered crops kept to learn from (SQLite, bounded, FIFO eviction).

A crop lands here when the edge model was unsure and nobody better could be asked in time (the
offload verdict :attr:`~device_runtime.offload.Verdict.keeps_sample`), labelled with the edge
model's guess (``label_source = "edge"``), or when the gateway's model answered an offload
(``label_source = "offload"``: a teacher label, the most useful kind for federated training).
Crops are stored as PNG exactly as the privacy filter released them; :meth:`SampleStore.arrays`
gives them resized to a model's input as the training task interface wants them.

Samples are not precious the way events are (losing the last one to a power cut costs nothing), so
the journal is WAL with ``synchronous=NORMAL``. At most ``max_samples`` rows; the oldest go first.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from aiotwin.sqlitedb import ClosingStore, StoreSpec, open_store, transaction
from device_runtime._exceptions import SampleStoreError

SAMPLES_FILE = "samples.sqlite3"
SCHEMA_VERSION = 1
DEFAULT_MAX_SAMPLES = 20_000  # ~20k small PNG crops: well under 200 MB of flash
LabelSource = Literal["edge", "offload", "manual"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    stored REAL NOT NULL,
    camera_id TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    label TEXT,
    label_source TEXT NOT NULL,
    confidence REAL NOT NULL,
    reason TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    png BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_source ON samples (label_source);
"""
_STORE = StoreSpec("sample store", _SCHEMA, SCHEMA_VERSION, SampleStoreError, synchronous="NORMAL")

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Sample:
    """Where a crop came from and what it is thought to be."""

    camera_id: str
    track_id: int
    label: str | None
    label_source: LabelSource
    confidence: float
    reason: str  # the offload verdict, or "offload-answer"
    model_version: int


class SampleStore(ClosingStore):
    """Bounded store of PNG crops with their labels; any thread may call any method (one lock)."""

    def __init__(self, path: Path, *, max_samples: int = DEFAULT_MAX_SAMPLES,
                 clock: Callable[[], float] = time.time, readonly: bool = False) -> None:
        if max_samples < 1:
            raise SampleStoreError(f"sample store needs max_samples >= 1 (got {max_samples})")
        if readonly and not path.is_file():
            raise SampleStoreError(f"no sample store at {path} yet (the node keeps samples while it runs)")
        self.path = path
        self.max_samples = max_samples
        self.readonly = readonly  # a reader beside the daemon (WAL readers never block its writes)
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._conn, self._lock_fd = open_store(path, _STORE, "is another aiotwin-device running with this data dir?",
                                               readonly=readonly)
        self.evicted = 0

    def add(self, crop_bgr: Image, sample: Sample) -> str:
        """Store ``crop_bgr`` (H×W×3 BGR) as PNG; evict the oldest beyond the bound; return the id."""
        import cv2

        if self.readonly:
            raise SampleStoreError(f"sample store {self.path} is open read-only")
        ok, png = cv2.imencode(".png", crop_bgr)
        if not ok:
            raise SampleStoreError(f"sample store {self.path}: cannot encode a {crop_bgr.shape} crop as PNG")
        sid = uuid.uuid4().hex
        with transaction(self._conn, self._lock, self.path, _STORE, "store a sample") as conn:
            conn.execute(
                "INSERT INTO samples (id, stored, camera_id, track_id, label, label_source, confidence, reason,"
                " model_version, png) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sid, self._clock(), sample.camera_id, sample.track_id, sample.label, sample.label_source,
                 float(sample.confidence), sample.reason, sample.model_version, png.tobytes()))
            over = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]) - self.max_samples
            if over > 0:
                conn.execute("DELETE FROM samples WHERE seq IN (SELECT seq FROM samples ORDER BY seq LIMIT ?)",
                             (over,))
                self.evicted += over
        return sid

    def count(self, label_source: LabelSource | None = None) -> int:
        query, args = "SELECT COUNT(*) FROM samples", cast("tuple[str, ...]", ())
        if label_source is not None:
            query, args = query + " WHERE label_source = ?", (label_source,)
        with self._lock:
            try:
                return int(self._conn.execute(query, args).fetchone()[0])
            except sqlite3.Error as exc:
                raise _STORE.wrap(self.path, "count samples", exc) from exc

    def rows(self, label_source: LabelSource | None = None, *, labelled: bool = False) -> list[tuple[Sample, Image]]:
        """Every sample (oldest first; ``labelled``: only those with a label) with its crop decoded to BGR."""
        import cv2

        query = ("SELECT camera_id, track_id, label, label_source, confidence, reason, model_version, png "
                 "FROM samples WHERE (? = 0 OR label IS NOT NULL)")
        args: tuple[object, ...] = (int(labelled),)
        if label_source is not None:
            query, args = query + " AND label_source = ?", (*args, label_source)
        with self._lock:
            try:
                found = self._conn.execute(query + " ORDER BY seq", args).fetchall()
            except sqlite3.Error as exc:
                raise _STORE.wrap(self.path, "read samples", exc) from exc
        out = []
        for *meta, png in found:
            image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise SampleStoreError(f"sample store {self.path}: a stored crop does not decode")
            out.append((Sample(*meta), image))
        return out

    def arrays(self, labels: Sequence[str], size: tuple[int, int],
               label_source: LabelSource | None = None) -> tuple[Image, npt.NDArray[np.int64]]:
        """Labelled crops as N×H×W×3 RGB uint8 (resized like the pipeline's crops) and label indices."""
        from aiotwin.bundle import InputSpec
        from aiotwin.models.preprocess import resize_crops

        index = {name: i for i, name in enumerate(labels)}
        kept = [(s, img) for s, img in self.rows(label_source, labelled=True) if s.label in index]
        spec = InputSpec(height=size[0], width=size[1])
        if not kept:
            return np.zeros((0, size[0], size[1], 3), np.uint8), np.zeros(0, np.int64)
        x = resize_crops([img for _, img in kept], spec, bgr=True)
        y = np.array([index[s.label] for s, _ in kept if s.label is not None], np.int64)
        return x, y



__all__ = ["DEFAULT_MAX_SAMPLES", "SAMPLES_FILE", "LabelSource", "Sample", "SampleStore"]
