"""The coordinator's model store: published bundles on disk, indexed in SQLite.

Layout under the coordinator's work dir::

    <work>/models/index.sqlite3            one row per published bundle (name, version) + provenance
    <work>/models/<name>/<version>/        a complete bundle: manifest.json + variant files
    <work>/models/.tmp/                    staging dirs (exports in progress); emptied when the store opens

Guarantees
----------
- **Atomic publish.** :meth:`ModelStore.publish` takes a bundle written to a staging dir
  (:meth:`ModelStore.staging_dir`), checks that it loads with :func:`aiotwin.bundle.load_bundle` and
  that every variant passes its size and sha256 check, then renames it into place and inserts its row
  in one transaction. A failure at any step leaves neither a row nor a directory under its name.
- **A version is never reused.** ``(name, version)`` is the key. Publishing it again for the same
  run and global round returns the stored record (idempotent: a restarted coordinator may retry);
  for anything else it raises :class:`ModelVersionExists`.
- **One writer process.** An exclusive ``flock`` beside the index (the coordinator daemon holds it);
  readers (``aiotwin-coordinator models list``) open it read-only while the daemon writes.

The ``accuracy`` of a record is the bundle's own: its reference variant's (``onnx-fp32`` when
present) accuracy on the holdout the export measured it on (``holdout``). Methods block on disk
I/O: call them through ``asyncio.to_thread`` from async code.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiotwin._exceptions import BundleError
from aiotwin.bundle import MANIFEST, Bundle, load_bundle, sha256_file
from aiotwin.sqlitedb import ClosingStore, StoreSpec, open_store, transaction
from cloud_coordinator._exceptions import BundleRejected, ModelNotFound, ModelStoreError, ModelVersionExists

SCHEMA_VERSION = 1
STORE_DIR = "models"  # under the coordinator's work dir
INDEX_FILE = "index.sqlite3"
TMP_DIR = ".tmp"
REFERENCE_VARIANT = "onnx-fp32"  # whose accuracy a record reports when the bundle has it
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # no dots: never collides with the index or .tmp

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 0),
    run_id TEXT NOT NULL,
    global_round INTEGER NOT NULL CHECK (global_round >= 0),
    base_version TEXT NOT NULL,
    task TEXT NOT NULL,
    accuracy REAL,
    holdout TEXT,
    trained_layers TEXT NOT NULL,
    variants TEXT NOT NULL,
    path TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS models_run ON models (run_id, global_round);
"""
_COLUMNS = ("name", "version", "run_id", "global_round", "base_version", "task", "accuracy", "holdout",
            "trained_layers", "variants", "path", "manifest_sha256", "created_at")
_INSERT = f"INSERT INTO models ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
_SPEC = StoreSpec("model store", _SCHEMA, SCHEMA_VERSION, ModelStoreError, synchronous="FULL")
_HOLDER = "is another coordinator running with this work dir?"


@dataclass(frozen=True)
class Provenance:
    """Where a bundle comes from: the FL run, its global round, the version the run started from."""

    run_id: str
    global_round: int
    base_version: str
    holdout: str | None = None  # the holdout the bundle's accuracy was measured on


@dataclass(frozen=True)
class ModelRecord:
    """One published bundle: its index row, ``path`` resolved against the store."""

    name: str
    version: int
    run_id: str
    global_round: int
    base_version: str
    task: str
    accuracy: float | None
    holdout: str | None
    trained_layers: str
    variants: tuple[str, ...]
    path: Path
    manifest_sha256: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (kebab-case keys, like the run records)."""
        data = asdict(self)
        data["variants"], data["path"] = list(self.variants), str(self.path)
        return {k.replace("_", "-"): v for k, v in data.items()}

    def load(self) -> Bundle:
        """The bundle on disk (:class:`aiotwin.BundleError` when it is gone or malformed)."""
        return load_bundle(self.path)


def checked_bundle(path: Path) -> Bundle:
    """The bundle at ``path`` if it loads and every variant passes size and sha256; else :class:`BundleRejected`."""
    try:
        bundle = load_bundle(path)
        for variant in bundle.manifest.variants:
            bundle.verify_variant(variant)
    except BundleError as exc:
        raise BundleRejected(f"bundle {path} refused: {exc}") from exc
    name = bundle.manifest.name
    if not _NAME.match(name):
        raise BundleRejected(f"bundle {path} refused: its name {name!r} is not usable as a directory name "
                             "(letters, digits, - and _, at most 64)")
    return bundle


def reference_accuracy(bundle: Bundle) -> float | None:
    """The holdout accuracy of :data:`REFERENCE_VARIANT`, else of the first variant that has one."""
    variants = bundle.manifest.variants
    ordered = sorted(variants, key=lambda v: v != REFERENCE_VARIANT)
    return next((variants[v].accuracy for v in ordered if variants[v].accuracy is not None), None)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush the staged files and their directory, so a committed row never points at lost data."""
    for path in [*sorted(p for p in root.rglob("*") if p.is_file()), root]:
        _fsync(path)


class ModelStore(ClosingStore):
    """See the module docstring. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, root: Path, lock_fd: int | None,
                 clock: Callable[[], float]) -> None:
        self._conn = conn
        self._lock_fd = lock_fd
        self._lock = threading.Lock()
        self._closed = False
        self._clock = clock
        self.root = root

    @classmethod
    def open(cls, root: Path, *, readonly: bool = False, clock: Callable[[], float] = time.time) -> ModelStore:
        """Open (writers: create) the store at ``root`` (``<work>/models``); :class:`ModelStoreError` if it fails.

        A writer empties ``.tmp/``: what is there was left by an export or publish that died.
        """
        index = root / INDEX_FILE
        if readonly and not index.is_file():
            raise ModelStoreError(f"no model store at {root} (nothing was published yet)")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelStoreError(f"model store {root}: cannot create it: {exc}") from exc
        conn, lock_fd = open_store(index, _SPEC, _HOLDER, readonly=readonly)
        store = cls(conn, root, lock_fd, clock)
        if not readonly:
            shutil.rmtree(root / TMP_DIR, ignore_errors=True)
        return store

    # -- reading ----------------------------------------------------------------------------------

    @contextmanager
    def _reading(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise ModelStoreError(f"model store {self.root} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _SPEC.wrap(self.root / INDEX_FILE, action, exc) from exc

    def _record(self, row: tuple[Any, ...]) -> ModelRecord:
        data = dict(zip(_COLUMNS, row, strict=True))
        data["variants"] = tuple(json.loads(data["variants"]))
        data["path"] = self.root / data["path"]
        return ModelRecord(**data)

    def _select(self, where: str, args: tuple[Any, ...], action: str) -> list[ModelRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM models {where}"  # noqa: S608 - fixed column names
        with self._reading(action) as conn:
            rows = conn.execute(sql, args).fetchall()
        return [self._record(r) for r in rows]

    def list_models(self, name: str | None = None) -> list[ModelRecord]:
        """Every published bundle (or every version of ``name``), by name, then version."""
        if name is None:
            return self._select("ORDER BY name, version", (), "list models")
        return self._select("WHERE name = ? ORDER BY version", (name,), "list models")

    def find(self, name: str, version: int) -> ModelRecord | None:
        found = self._select("WHERE name = ? AND version = ?", (name, int(version)), "read a model")
        return found[0] if found else None

    def get(self, name: str, version: int) -> ModelRecord:
        """The record of ``name`` ``version``; :class:`ModelNotFound` when it is not published."""
        record = self.find(name, version)
        if record is None:
            raise ModelNotFound(f"no bundle {name!r} version {version} in the model store {self.root}")
        return record

    def for_round(self, run_id: str, global_round: int) -> ModelRecord | None:
        """What run ``run_id`` published for ``global_round`` (``None``: nothing yet)."""
        found = self._select("WHERE run_id = ? AND global_round = ?", (run_id, int(global_round)), "read a model")
        return found[0] if found else None

    def latest(self, name: str) -> ModelRecord | None:
        found = self._select("WHERE name = ? ORDER BY version DESC LIMIT 1", (name,), "read a model")
        return found[0] if found else None

    # -- publishing -------------------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A fresh, empty directory on the store's file system to write a bundle into before :meth:`publish`."""
        path = self.root / TMP_DIR / f"{int(self._clock())}-{secrets.token_hex(4)}"
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise ModelStoreError(f"model store {self.root}: cannot create a staging dir: {exc}") from exc
        return path

    def publish(self, staged: Path, provenance: Provenance) -> ModelRecord:
        """Move the bundle at ``staged`` into the store and index it, atomically (module docstring).

        ``staged`` must be on the store's file system (:meth:`staging_dir`). On success it is gone;
        on failure, or when the same run and round were published before, it is left to the caller.

        Raises
        ------
        BundleRejected
            The bundle does not load, a variant fails its size or sha256 check, or its name is unusable.
        ModelVersionExists
            Its name and version are taken by another run or round.
        ModelStoreError
            The index or the file system failed (nothing was published).
        """
        bundle = checked_bundle(staged)
        m = bundle.manifest
        if self._closed:
            raise ModelStoreError(f"model store {self.root} is closed")
        _fsync_tree(staged)
        record = ModelRecord(
            name=m.name, version=m.version, run_id=provenance.run_id, global_round=provenance.global_round,
            base_version=provenance.base_version, task=m.task, accuracy=reference_accuracy(bundle),
            holdout=provenance.holdout, trained_layers=m.trained_layers, variants=tuple(sorted(m.variants)),
            path=self.root / m.name / str(m.version), manifest_sha256=sha256_file(staged / MANIFEST),
            created_at=self._clock())
        moved = False
        try:
            with transaction(self._conn, self._lock, self.root / INDEX_FILE, _SPEC, "publish a model") as conn:
                row = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM models "  # noqa: S608 - fixed column names
                                   "WHERE name = ? AND version = ?", (m.name, m.version)).fetchone()
                if row is not None:
                    return self._existing(self._record(row), provenance)
                conn.execute(_INSERT, self._row(record))
                self._move(staged, record.path)
                moved = True
        except BaseException:
            if moved:  # the commit failed after the rename: put the bundle back
                record.path.rename(staged)
            raise
        return record

    def _row(self, record: ModelRecord) -> tuple[Any, ...]:
        values = {**asdict(record), "variants": json.dumps(list(record.variants)),
                  "path": str(record.path.relative_to(self.root))}
        return tuple(values[c] for c in _COLUMNS)

    @staticmethod
    def _existing(found: ModelRecord, provenance: Provenance) -> ModelRecord:
        if (found.run_id, found.global_round) == (provenance.run_id, provenance.global_round):
            return found
        raise ModelVersionExists(f"{found.name} version {found.version} is already published by run {found.run_id} "
                                 f"round {found.global_round}; run {provenance.run_id} round "
                                 f"{provenance.global_round} cannot publish it again")

    def _move(self, staged: Path, final: Path) -> None:
        """Rename ``staged`` to ``final`` (clearing an orphan first); :class:`ModelStoreError` on failure."""
        try:
            if final.exists():  # a directory without a row: a publish died between rename and commit
                graveyard = self.staging_dir()
                final.rename(graveyard / "orphan")
                shutil.rmtree(graveyard, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(final)
        except OSError as exc:
            raise ModelStoreError(f"model store {self.root}: cannot move the bundle into {final}: {exc}") from exc
        try:
            _fsync(final.parent)
        except OSError as exc:
            final.rename(staged)
            raise ModelStoreError(f"model store {self.root}: cannot flush {final.parent}: {exc}") from exc


def store_dir(work_dir: Path) -> Path:
    """The model store of the coordinator serving ``work_dir``."""
    return work_dir / STORE_DIR


__all__ = ["INDEX_FILE", "REFERENCE_VARIANT", "SCHEMA_VERSION", "STORE_DIR", "TMP_DIR", "ModelRecord", "ModelStore",
           "Provenance", "checked_bundle", "reference_accuracy", "store_dir"]
