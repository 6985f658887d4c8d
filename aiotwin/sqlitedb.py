"""SQLite stores of every node (device outbox, sample store, gateway event store): one way to open them.

- :func:`connect` opens in autocommit mode (transactions are explicit ``BEGIN IMMEDIATE``), checks
  the schema version and a ``quick_check``, and for writers sets WAL plus the ``synchronous`` level
  the store needs (``FULL`` where a committed row must survive power loss, ``NORMAL`` otherwise);
- :func:`writer_lock` holds an exclusive ``flock`` beside the database: one writer process per store
  (the kernel releases it when the process dies, even by SIGKILL);
- :func:`transaction` is one write transaction under a thread lock, rolled back on any error;
- every ``sqlite3.Error`` becomes the caller's error type with a sentence that names the file.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

from aiotwin._exceptions import AiotwinError

Synchronous = Literal["FULL", "NORMAL"]
BUSY_TIMEOUT_S = 5.0  # a reader holds the lock only for a moment


@dataclass(frozen=True)
class StoreSpec:
    """What a store is called in messages, its schema and the error type its callers catch."""

    what: str  # "outbox", "sample store", ...
    schema: str
    version: int
    error: type[AiotwinError]
    synchronous: Synchronous = "FULL"

    def wrap(self, path: Path, action: str, exc: sqlite3.Error) -> AiotwinError:
        text = str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            return self.error(f"{path} is corrupt or not an SQLite database ({text}); move it aside and the "
                              f"node will start a fresh {self.what} (what it held is lost)")
        return self.error(f"{self.what} {path}: cannot {action}: {text}")


def _check(conn: sqlite3.Connection, path: Path, spec: StoreSpec) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > spec.version:
        raise spec.error(f"{path} was written by a newer aiotwin (schema {version} > {spec.version})")
    result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if result != "ok":
        raise spec.error(f"{path} is corrupt ({result}); move it aside to start a fresh {spec.what}")


def connect(path: Path, spec: StoreSpec, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (writers: create) the store at ``path``; sqlite errors propagate (wrap them with ``spec``)."""
    uri = f"{path.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        _check(conn, path, spec)
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={spec.synchronous}")
            conn.executescript(spec.schema)
            conn.execute(f"PRAGMA user_version={spec.version}")
    except BaseException:
        conn.close()
        raise
    return conn


def writer_lock(path: Path, spec: StoreSpec, holder: str) -> int:
    """An exclusive ``flock`` on ``PATH.lock``; ``holder`` says who else might hold it (for the error)."""
    try:
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise spec.error(f"{spec.what} {path}: cannot create its lock file: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise spec.error(f"{spec.what} {path} is in use by another process ({holder})") from None
    return fd


def open_store(path: Path, spec: StoreSpec, holder: str, *, readonly: bool = False) -> tuple[sqlite3.Connection,
                                                                                             int | None]:
    """:func:`writer_lock` (writers only) then :func:`connect`; errors wrapped, the lock released on failure."""
    lock_fd = None if readonly else writer_lock(path, spec, holder)
    try:
        return connect(path, spec, readonly=readonly), lock_fd
    except BaseException as exc:
        if lock_fd is not None:
            os.close(lock_fd)
        if isinstance(exc, sqlite3.Error):
            raise spec.wrap(path, "open", exc) from exc
        raise


class ClosingStore:
    """``close()`` (idempotent) and the context-manager protocol of a store holding a connection and its lock.

    Subclasses set ``_conn``, ``_lock`` (guarding the connection), ``_closed`` and ``_lock_fd``.
    """

    _conn: sqlite3.Connection
    _lock: threading.Lock
    _closed: bool
    _lock_fd: int | None

    def close(self) -> None:
        """Close the connection and release the writer lock (idempotent); committed rows are durable."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()
                if self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def transaction(conn: sqlite3.Connection, lock: threading.Lock, path: Path, spec: StoreSpec,
                action: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` under ``lock``; rolled back (also when COMMIT fails) on any error."""
    with lock:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # also when COMMIT itself failed (disk full)
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise spec.wrap(path, action, exc) from exc


__all__ = [
    "BUSY_TIMEOUT_S", "ClosingStore", "StoreSpec", "Synchronous", "connect", "open_store", "transaction", "writer_lock",
]
