"""The event outbox: a bounded, TTL'd, per-destination FIFO of wire events in SQLite (WAL).

Guarantees
----------
- **Durable once committed.** Every :meth:`Outbox.put` is one transaction. The journal is WAL with
  ``synchronous=FULL``: the WAL is fsynced at every commit, so a committed batch survives SIGKILL *and*
  power loss (camera poles lose power; ``NORMAL`` would only survive a process crash). Events arrive
  a few per second in batches per frame, so one fsync per batch is cheap.
- **Idempotent.** The event's own id is the idempotency key (``UNIQUE``; ``INSERT OR IGNORE``):
  putting the same event twice stores it once. The integer ``seq`` (``AUTOINCREMENT`` rowid, stable
  across ``VACUUM``) gives FIFO order; an id is never reused for a different event.
- **Bounded.** At most ``max_events`` rows. ``drop-oldest`` deletes the oldest rows (any destination)
  to make room; ``reject-new`` refuses new events while full. Both are counted in :class:`OutboxStats`.
- **TTL.** Each row expires ``ttl_s`` after it was stored (wall clock, injected: it must survive a
  restart); expired rows are purged (and counted) on every write and by :meth:`purge_expired`.
- **FIFO per destination.** :meth:`peek` returns the oldest events of one ``dest``; :meth:`ack`
  deletes delivered ones; :meth:`nack` records a failed attempt and keeps the event at its place.

One writer connection, guarded by a lock, so any thread may call any method. Methods block on disk
I/O: call them from worker threads or through ``asyncio.to_thread``, never on the event loop.
"""

from __future__ import annotations

import builtins
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiotwin.sqlitedb import ClosingStore, StoreSpec, open_store, transaction
from aiotwin.wire import Event, WireError, decode_event, encode_event
from device_runtime._exceptions import OutboxError
from device_runtime.config import DEFAULT_OUTBOX_MAX_EVENTS, DEFAULT_OUTBOX_TTL_S

OverflowPolicy = Literal["drop-oldest", "reject-new"]
OVERFLOW_POLICIES: tuple[OverflowPolicy, ...] = ("drop-oldest", "reject-new")
DEFAULT_DEST = "gateway"
OUTBOX_FILE = "outbox.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    dest TEXT NOT NULL,
    kind TEXT NOT NULL,
    stored REAL NOT NULL,
    expires REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_dest_seq ON events (dest, seq);
CREATE INDEX IF NOT EXISTS events_expires ON events (expires);
"""


@dataclass(frozen=True)
class StoredEvent:
    """An event as the outbox holds it: FIFO position, destination, delivery attempts."""

    seq: int
    dest: str
    attempts: int
    event: Event


@dataclass(frozen=True)
class OutboxStats:
    """Depth now and counters since this process opened the outbox."""

    depth: int
    depth_by_dest: dict[str, int] = field(default_factory=dict)
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0  # overflow, drop-oldest
    rejected: int = 0  # overflow, reject-new
    expired: int = 0
    acked: int = 0
    nacked: int = 0


@dataclass
class _Counters:
    """Process counters, and the running depth (exact: this connection is the only writer)."""

    depth: int = 0
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0
    rejected: int = 0
    expired: int = 0
    acked: int = 0
    nacked: int = 0

    def merge(self, other: _Counters) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_STORE = StoreSpec("outbox", _SCHEMA, SCHEMA_VERSION, OutboxError, synchronous="FULL")


def _wrap(path: Path, action: str, exc: sqlite3.Error) -> OutboxError:
    err = _STORE.wrap(path, action, exc)
    assert isinstance(err, OutboxError)
    return err


class Outbox(ClosingStore):
    """Bounded SQLite outbox; see the module docstring. Create with :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, max_events: int, ttl_s: float,
                 overflow: OverflowPolicy, clock: Callable[[], float], lock_fd: int | None) -> None:
        self._conn = conn
        self._lock_fd = lock_fd
        self.path = path
        self.max_events = max_events
        self.ttl_s = ttl_s
        self.overflow = overflow
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._counters = _Counters()
        try:
            self._counters.depth = self._count()
        except OutboxError:
            self.close()
            raise

    @classmethod
    def open(cls, path: Path, *, max_events: int = DEFAULT_OUTBOX_MAX_EVENTS, ttl_s: float = DEFAULT_OUTBOX_TTL_S,
             overflow: OverflowPolicy = "drop-oldest", clock: Callable[[], float] = time.time,
             readonly: bool = False) -> Outbox:
        """Open (or create) the outbox at ``path``; raise :class:`OutboxError` with a clear sentence."""
        if max_events < 1 or ttl_s <= 0:
            raise OutboxError(f"outbox needs max_events >= 1 and ttl_s > 0 (got {max_events}, {ttl_s})")
        if overflow not in OVERFLOW_POLICIES:
            raise OutboxError(f"unknown overflow policy {overflow!r} (known: {', '.join(OVERFLOW_POLICIES)})")
        if readonly and not path.is_file():
            raise OutboxError(f"no outbox database at {path} (has `aiotwin-device start` run with this data dir?)")
        conn, lock_fd = open_store(path, _STORE, "is another aiotwin-device running with this data dir?",
                                   readonly=readonly)
        return cls(conn, path, max_events=max_events, ttl_s=ttl_s, overflow=overflow, clock=clock,
                   lock_fd=lock_fd)

    @contextmanager
    def _tx(self, action: str) -> Iterator[tuple[sqlite3.Connection, _Counters]]:
        """One write transaction under the writer lock.

        The body records its effects in a fresh :class:`_Counters`, merged only after COMMIT, so a
        rolled-back batch changes no counter. sqlite errors become :class:`OutboxError`.
        """
        if self._closed:
            raise OutboxError(f"outbox {self.path} is closed")
        delta = _Counters()
        with transaction(self._conn, self._lock, self.path, _STORE, action) as conn:
            yield conn, delta
        self._counters.merge(delta)

    def _count(self) -> int:
        try:
            return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        except sqlite3.Error as exc:
            raise _wrap(self.path, "read", exc) from exc

    # -- writing ---------------------------------------------------------------------------------

    def put(self, events: Iterable[Event], dest: str = DEFAULT_DEST) -> int:
        """Store ``events`` for ``dest`` in one transaction; return how many were newly stored."""
        rows = [(e.id, e.kind, encode_event(e)) for e in events]
        if not rows:
            return 0
        with self._tx("store events") as (conn, delta):
            now = self._clock()
            self._purge(conn, delta, now)
            self._insert(conn, delta, rows, dest, now)
            if self.overflow == "drop-oldest":
                self._drop_excess(conn, delta)
        return delta.stored

    def _insert(self, conn: sqlite3.Connection, delta: _Counters, rows: Sequence[tuple[str, str, bytes]],
                dest: str, now: float) -> None:
        for event_id, kind, body in rows:
            if self.overflow == "reject-new" and self._counters.depth + delta.depth >= self.max_events:
                if conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone():
                    delta.duplicates += 1
                else:
                    delta.rejected += 1
                continue
            cur = conn.execute(
                "INSERT OR IGNORE INTO events (id, dest, kind, stored, expires, body) VALUES (?,?,?,?,?,?)",
                (event_id, dest, kind, now, now + self.ttl_s, body),
            )
            if cur.rowcount == 1:
                delta.stored += 1
                delta.depth += 1
            else:
                delta.duplicates += 1

    def _drop_excess(self, conn: sqlite3.Connection, delta: _Counters) -> None:
        excess = self._counters.depth + delta.depth - self.max_events
        if excess > 0:
            conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)", (excess,)
            )
            delta.depth -= excess
            delta.dropped += excess

    @staticmethod
    def _purge(conn: sqlite3.Connection, delta: _Counters, now: float) -> None:
        n = conn.execute("DELETE FROM events WHERE expires <= ?", (now,)).rowcount
        delta.depth -= n
        delta.expired += n

    def purge_expired(self) -> int:
        """Delete expired events now; return how many."""
        with self._tx("purge expired events") as (conn, delta):
            self._purge(conn, delta, self._clock())
        return delta.expired

    def ack(self, ids: Sequence[str]) -> int:
        """Delete delivered events; return how many were still there (acks are idempotent)."""
        if not ids:
            return 0
        with self._tx("ack events") as (conn, delta):
            n = sum(conn.execute("DELETE FROM events WHERE id = ?", (i,)).rowcount for i in ids)
            delta.depth -= n
            delta.acked += n
        return delta.acked

    def nack(self, ids: Sequence[str]) -> int:
        """Record a failed delivery attempt; the events keep their FIFO place. Return how many."""
        if not ids:
            return 0
        with self._tx("nack events") as (conn, delta):
            delta.nacked += sum(
                conn.execute("UPDATE events SET attempts = attempts + 1 WHERE id = ?", (i,)).rowcount
                for i in ids
            )
        return delta.nacked

    # -- reading ---------------------------------------------------------------------------------

    def _select(self, sql: str, args: tuple[object, ...]) -> builtins.list[StoredEvent]:
        with self._lock:
            if self._closed:
                raise OutboxError(f"outbox {self.path} is closed")
            try:
                rows = self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise _wrap(self.path, "read events", exc) from exc
        try:
            return [StoredEvent(seq, dest, att, decode_event(body)) for seq, dest, att, body in rows]
        except WireError as exc:
            raise OutboxError(f"outbox {self.path} holds an unreadable event: {exc}") from exc

    def peek(self, dest: str, n: int) -> builtins.list[StoredEvent]:
        """The oldest ``n`` unexpired events for ``dest``, FIFO; they stay until acked."""
        return self._select(
            "SELECT seq, dest, attempts, body FROM events WHERE dest = ? AND expires > ? "
            "ORDER BY seq LIMIT ?",
            (dest, self._clock(), n),
        )

    def list(self, limit: int, since: str | None = None) -> builtins.list[Event]:
        """Up to ``limit`` unexpired events (all destinations), oldest first.

        ``since`` is an event id: only events stored after it are returned (a paging cursor).
        """
        after = 0
        if since is not None:
            found = self._select("SELECT seq, dest, attempts, body FROM events WHERE id = ?", (since,))
            if not found:
                raise OutboxError(f"event {since!r} is not in the outbox (delivered or expired?)")
            after = found[0].seq
        rows = self._select(
            "SELECT seq, dest, attempts, body FROM events WHERE seq > ? AND expires > ? ORDER BY seq LIMIT ?",
            (after, self._clock(), limit),
        )
        return [r.event for r in rows]

    def stats(self) -> OutboxStats:
        """Depth (total and per destination) and this process's counters."""
        with self._lock:
            if self._closed:
                raise OutboxError(f"outbox {self.path} is closed")
            try:
                by_dest = dict(self._conn.execute("SELECT dest, COUNT(*) FROM events GROUP BY dest"))
            except sqlite3.Error as exc:
                raise _wrap(self.path, "read stats", exc) from exc
            c = self._counters
            return OutboxStats(sum(by_dest.values()), by_dest, c.stored, c.duplicates, c.dropped, c.rejected,
                               c.expired, c.acked, c.nacked)


__all__ = [
    "DEFAULT_DEST", "OUTBOX_FILE", "OVERFLOW_POLICIES", "Outbox", "OutboxStats", "OverflowPolicy",
    "StoredEvent",
]
