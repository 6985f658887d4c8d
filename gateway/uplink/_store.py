"""The gateway's durable event store: every event devices uplinked, once, in SQLite (WAL).

Guarantees
----------
- **Durable before acknowledged.** :meth:`EventStore.put` is one transaction; the journal is WAL with
  ``synchronous=FULL``, so the WAL is fsynced at every commit and a committed batch survives SIGKILL
  and power loss. The CoAP resource answers 2.04 only after :meth:`put` returned.
- **Exactly once.** The event id is the primary key (``INSERT OR IGNORE``): a device that re-sends
  a batch (its 2.04 was lost, the gateway restarted) is acknowledged again, and nothing is stored
  twice. The first copy of an id wins.
- **One writer process.** An exclusive ``flock`` beside the database (released by the kernel even on
  SIGKILL) refuses a second gateway on the same store.

Methods block on disk I/O: call them through ``asyncio.to_thread``, never on the event loop. Any
thread may call any method (one connection, guarded by a lock).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiotwin.sqlitedb import ClosingStore, StoreSpec, open_store, transaction
from aiotwin.wire import Event, WireError, decode_event, encode_event
from gateway._exceptions import UplinkStoreError

SCHEMA_VERSION = 1

EVENTS_FILE = "events.sqlite3"  # in the gateway's data dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    node TEXT,
    received REAL NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_camera_ts ON events (camera_id, ts);
"""


@dataclass(frozen=True)
class PutResult:
    """What one :meth:`EventStore.put` did: ids newly stored and ids already there."""

    stored: tuple[str, ...]
    duplicates: tuple[str, ...]

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every id of the batch: stored now or before (all durable)."""
        return self.stored + self.duplicates


@dataclass(frozen=True)
class StoreStats:
    """Rows now, and this process's counters."""

    rows: int
    stored: int
    duplicates: int


_SPEC = StoreSpec("event store", _SCHEMA, SCHEMA_VERSION, UplinkStoreError, synchronous="FULL")
_HOLDER = ("is another gateway running with this store? Give each `aiotwin-gateway start` its own --data-dir, "
           "or --no-coap")


class EventStore(ClosingStore):
    """See the module docstring. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock_fd: int | None,
                 clock: Callable[[], float]) -> None:
        self._conn = conn
        self._lock_fd = lock_fd
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self.path = path
        self.stored = 0
        self.duplicates = 0

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, clock: Callable[[], float] = time.time) -> EventStore:
        """Open (or create) the store; raise :class:`UplinkStoreError` with a clear sentence."""
        if readonly and not path.is_file():
            raise UplinkStoreError(f"no event store at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UplinkStoreError(f"event store {path}: cannot create its directory: {exc}") from exc
        conn, lock_fd = open_store(path, _SPEC, _HOLDER, readonly=readonly)
        return cls(conn, path, lock_fd, clock)

    @contextmanager
    def _locked(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise UplinkStoreError(f"event store {self.path} is closed")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _SPEC.wrap(self.path, action, exc) from exc

    def put(self, events: Sequence[Event], node: str | None = None) -> PutResult:
        """Store ``events`` in one durable transaction; return which ids were new and which known."""
        stored: list[str] = []
        dups: list[str] = []
        if self._closed:
            raise UplinkStoreError(f"event store {self.path} is closed")
        with transaction(self._conn, self._lock, self.path, _SPEC, "store events") as conn:
            now = self._clock()
            for e in events:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO events (id, kind, camera_id, ts, node, received, body) "
                    "VALUES (?,?,?,?,?,?,?)", (e.id, e.kind, e.camera_id, e.ts, node, now, encode_event(e)))
                (stored if cur.rowcount == 1 else dups).append(e.id)
        self.stored += len(stored)
        self.duplicates += len(dups)
        return PutResult(tuple(stored), tuple(dups))

    def count(self) -> int:
        with self._locked("count events") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def ids(self) -> list[str]:
        """Every stored id, in arrival order."""
        with self._locked("read ids") as conn:
            return [row[0] for row in conn.execute("SELECT id FROM events ORDER BY rowid")]

    def events(self, limit: int = 1000, after: int = 0) -> list[tuple[int, Event]]:
        """Up to ``limit`` ``(cursor, event)`` pairs in arrival order, after cursor ``after``."""
        with self._locked("read events") as conn:
            rows = conn.execute("SELECT rowid, body FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                (after, limit)).fetchall()
        try:
            return [(int(rowid), decode_event(body)) for rowid, body in rows]
        except WireError as exc:
            raise UplinkStoreError(f"event store {self.path} holds an unreadable event: {exc}") from exc

    def stats(self) -> StoreStats:
        return StoreStats(self.count(), self.stored, self.duplicates)


__all__ = ["EVENTS_FILE", "SCHEMA_VERSION", "EventStore", "PutResult", "StoreStats"]
