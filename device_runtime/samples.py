"""The node's sample store: privacy-filtered crops kept to learn from (SQLite, bounded, balanced per class).

A crop lands here when

- the edge model was unsure and nobody better could be asked in time (the offload verdict
  :attr:`~device_runtime.offload.Verdict.keeps_sample`), labelled with the edge model's guess
  (``label_source = "edge"``);
- the gateway's model answered an offload (``"offload"``: a teacher label, the most useful kind for
  federated training);
- the edge model was very sure of a track it counted (``"pseudo"``: a pseudo-label, rate-limited);
- a person labelled it (``"manual"``: ``aiotwin-device label import``, which also relabels samples
  already here).

Crops are stored as PNG exactly as the privacy filter released them; :meth:`SampleStore.arrays`
gives them resized to a model's input as the training task interface wants them.

Samples are not precious the way events are (losing the last one to a power cut costs nothing), so
the journal is WAL with ``synchronous=NORMAL``. At most ``max_samples`` rows; beyond that
:func:`plan_eviction` decides which go: unlabelled rows first, then the oldest sample of the class
with the most samples, so a rare class keeps its few crops while a common one turns over (FIFO
within each class).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from aiotwin.sqlitedb import ClosingStore, StoreSpec, connect, open_store, transaction
from device_runtime._exceptions import SampleStoreError

SAMPLES_FILE = "samples.sqlite3"
SCHEMA_VERSION = 1  # version 1 plus an index: older readers open it unchanged
DEFAULT_MAX_SAMPLES = 20_000  # ~20k small PNG crops: well under 200 MB of flash
LabelSource = Literal["edge", "offload", "pseudo", "manual"]
LABEL_SOURCES: tuple[LabelSource, ...] = ("edge", "offload", "pseudo", "manual")

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
CREATE INDEX IF NOT EXISTS samples_label_seq ON samples (label, seq);
"""
_STORE = StoreSpec("sample store", _SCHEMA, SCHEMA_VERSION, SampleStoreError, synchronous="NORMAL")
_HOLDER = "is another aiotwin-device running with this data dir?"
_INSERT = ("INSERT INTO samples (id, stored, camera_id, track_id, label, label_source, confidence, reason, "
           "model_version, png) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SELECT = "SELECT camera_id, track_id, label, label_source, confidence, reason, model_version, png FROM samples"
_SELECT_IDS = ("SELECT id, camera_id, track_id, label, label_source, confidence, reason, model_version, png "
               "FROM samples")

Image = npt.NDArray[np.uint8]
Bucket = str | None  # a label, or None for unlabelled rows


@dataclass(frozen=True)
class Sample:
    """Where a crop came from and what it is thought to be."""

    camera_id: str
    track_id: int
    label: str | None
    label_source: LabelSource
    confidence: float
    reason: str  # the offload verdict, "offload-answer", "pseudo-label" or "manual-import"
    model_version: int


@dataclass(frozen=True)
class LabelChanges:
    """What :meth:`SampleStore.apply_labels` did: ids relabelled, ids not found, ids added, rows evicted."""

    relabelled: tuple[str, ...]
    missing: tuple[str, ...]
    added: tuple[str, ...]
    evicted: int


def plan_eviction(sizes: Mapping[Bucket, int], oldest: Mapping[Bucket, Sequence[int]], n: int) -> list[int]:
    """The ``seq`` of the ``n`` rows to evict, in eviction order.

    ``sizes`` counts the rows of every bucket (label, or ``None`` for unlabelled rows); ``oldest``
    holds each bucket's oldest ``seq`` values (at least ``n`` of them, or all), oldest first.
    Unlabelled rows go first; then, one row at a time, the oldest of the bucket with the most rows
    (ties: the bucket whose oldest row is older), so the buckets level down towards each other.
    """
    queues = {k: deque(v) for k, v in oldest.items()}
    left = dict(sizes)
    out: list[int] = []
    for _ in range(n):
        live = [k for k, q in queues.items() if q]
        if not live:
            break
        bucket = None if queues.get(None) else max(live, key=lambda k: (left[k], -queues[k][0]))
        out.append(queues[bucket].popleft())
        left[bucket] -= 1
    return out


def _encode_png(path: Path, image: Image) -> bytes:
    import cv2

    try:
        ok, png = cv2.imencode(".png", image)
    except cv2.error:
        ok = False
    if not ok:
        raise SampleStoreError(f"sample store {path}: cannot encode a {image.shape} crop as PNG")
    return bytes(png.tobytes())


def _decode_png(path: Path, png: bytes) -> Image:
    import cv2

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise SampleStoreError(f"sample store {path}: a stored crop does not decode")
    return cast("Image", image)


class SampleStore(ClosingStore):
    """Bounded store of PNG crops with their labels; any thread may call any method (one lock).

    ``readonly``: a reader beside the daemon (WAL readers never block its writes). ``guest``: a
    second, short-lived writer beside the daemon (``aiotwin-device label import``) that takes no
    writer lock; SQLite's own locking serialises its one transaction with the daemon's writes.
    """

    def __init__(self, path: Path, *, max_samples: int = DEFAULT_MAX_SAMPLES,
                 clock: Callable[[], float] = time.time, readonly: bool = False, guest: bool = False) -> None:
        if max_samples < 1:
            raise SampleStoreError(f"sample store needs max_samples >= 1 (got {max_samples})")
        if readonly and not path.is_file():
            raise SampleStoreError(f"no sample store at {path} yet (the node keeps samples while it runs)")
        if guest and not path.parent.is_dir():
            raise SampleStoreError(f"no data dir {path.parent}: is this the node's data dir?")
        self.path = path
        self.max_samples = max_samples
        self.readonly = readonly
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        if guest and not readonly:
            try:
                self._conn, self._lock_fd = connect(path, _STORE), None
            except sqlite3.Error as exc:
                raise _STORE.wrap(path, "open", exc) from exc
        else:
            self._conn, self._lock_fd = open_store(path, _STORE, _HOLDER, readonly=readonly)
        self.evicted = 0

    def add(self, crop_bgr: Image, sample: Sample) -> str:
        """Store ``crop_bgr`` (H×W×3 BGR) as PNG; evict beyond the bound (:func:`plan_eviction`); return the id."""
        self._writable()
        png = _encode_png(self.path, crop_bgr)
        sid = uuid.uuid4().hex
        with transaction(self._conn, self._lock, self.path, _STORE, "store a sample") as conn:
            self._insert(conn, sid, png, sample)
            self.evicted += self._evict(conn)
        return sid

    def apply_labels(self, relabel: Mapping[str, str], add: Sequence[tuple[Image, Sample]]) -> LabelChanges:
        """One transaction: set ``label`` (source ``manual``) of the samples ``relabel`` names, store ``add``.

        Ids not in the store (evicted since they were listed) are reported as ``missing``; any
        error rolls the whole transaction back.
        """
        self._writable()
        pngs = [(_encode_png(self.path, image), sample) for image, sample in add]
        done: list[str] = []
        missing: list[str] = []
        added: list[str] = []
        with transaction(self._conn, self._lock, self.path, _STORE, "import labels") as conn:
            for sid, label in relabel.items():
                cur = conn.execute("UPDATE samples SET label = ?, label_source = 'manual' WHERE id = ?", (label, sid))
                (done if cur.rowcount else missing).append(sid)
            for png, sample in pngs:
                added.append(uuid.uuid4().hex)
                self._insert(conn, added[-1], png, sample)
            evicted = self._evict(conn)
        self.evicted += evicted
        return LabelChanges(tuple(done), tuple(missing), tuple(added), evicted)

    def _writable(self) -> None:
        if self.readonly:
            raise SampleStoreError(f"sample store {self.path} is open read-only")

    def _insert(self, conn: sqlite3.Connection, sid: str, png: bytes, sample: Sample) -> None:
        conn.execute(
            _INSERT,
            (sid, self._clock(), sample.camera_id, sample.track_id, sample.label, sample.label_source,
             float(sample.confidence), sample.reason, sample.model_version, png))

    def _evict(self, conn: sqlite3.Connection) -> int:
        over = int(conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]) - self.max_samples
        if over <= 0:
            return 0
        sizes = dict(conn.execute("SELECT label, COUNT(*) FROM samples GROUP BY label").fetchall())
        oldest: dict[Bucket, list[int]] = {}
        for label, seq in conn.execute(
                "SELECT label, seq FROM (SELECT label, seq, ROW_NUMBER() OVER (PARTITION BY label ORDER BY seq)"
                " AS rn FROM samples) WHERE rn <= ? ORDER BY seq", (over,)):
            oldest.setdefault(label, []).append(seq)
        victims = plan_eviction(sizes, oldest, over)
        conn.executemany("DELETE FROM samples WHERE seq = ?", [(s,) for s in victims])
        return len(victims)

    def _query(self, action: str, sql: str, args: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, tuple(args)).fetchall())
            except sqlite3.Error as exc:
                raise _STORE.wrap(self.path, action, exc) from exc

    def count(self, label_source: LabelSource | None = None) -> int:
        query, args = "SELECT COUNT(*) FROM samples", cast("tuple[str, ...]", ())
        if label_source is not None:
            query, args = query + " WHERE label_source = ?", (label_source,)
        return int(cast("int", self._query("count samples", query, args)[0][0]))

    def counts(self) -> list[tuple[str | None, str, int]]:
        """``(label, label source, samples)`` for every pair present, by label then source."""
        found = self._query("count samples", "SELECT label, label_source, COUNT(*) FROM samples "
                                              "GROUP BY label, label_source ORDER BY label, label_source")
        return [(cast("str | None", label), str(source), int(cast("int", n))) for label, source, n in found]

    def entries(self, label_source: LabelSource | None = None) -> list[tuple[str, Sample, bytes]]:
        """``(id, sample, PNG bytes)`` of every sample, oldest first (what ``samples --export`` writes)."""
        query, args = _SELECT_IDS, cast("tuple[str, ...]", ())
        if label_source is not None:
            query, args = query + " WHERE label_source = ?", (label_source,)
        found = self._query("read samples", query + " ORDER BY seq", args)
        return [(str(sid), Sample(*meta), bytes(cast("bytes", png)))  # type: ignore[arg-type]
                for sid, *meta, png in found]

    def rows(self, label_source: LabelSource | None = None, *, labelled: bool = False) -> list[tuple[Sample, Image]]:
        """Every sample (oldest first; ``labelled``: only those with a label) with its crop decoded to BGR."""
        query = _SELECT + " WHERE (? = 0 OR label IS NOT NULL)"
        args: tuple[object, ...] = (int(labelled),)
        if label_source is not None:
            query, args = query + " AND label_source = ?", (*args, label_source)
        found = self._query("read samples", query + " ORDER BY seq", args)
        return [(Sample(*meta), _decode_png(self.path, cast("bytes", png)))  # type: ignore[arg-type]
                for *meta, png in found]

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


__all__ = [
    "DEFAULT_MAX_SAMPLES", "LABEL_SOURCES", "SAMPLES_FILE", "LabelChanges", "LabelSource", "Sample", "SampleStore",
    "plan_eviction",
]
