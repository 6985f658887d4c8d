"""Suite-wide hygiene guards (STYLE rule 35): no leaked threads, no leaked child processes.

Warnings are errors (pyproject ``filterwarnings``). Unexpected WARNING logs from aiotwin loggers
fail a test unless it asks for them with the ``expect_warnings`` marker... kept light: tests that
expect warnings use ``caplog`` and assert on them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
os.environ.setdefault("FLWR_DISABLE_UPDATE_CHECK", "1")

# Threads that third-party libraries start once per process and keep by design.
_ALLOWED_THREAD_PREFIXES = ("asyncio_", "ThreadPoolExecutor", "pydevd", "Dummy-")
_THREAD_GRACE_S = 5.0


def _live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive() and t is not threading.main_thread()}


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = _live_threads()
    yield
    leaked: list[threading.Thread] = []
    for t in _live_threads() - before:
        if t.name.startswith(_ALLOWED_THREAD_PREFIXES):
            continue
        t.join(_THREAD_GRACE_S)
        if t.is_alive():
            leaked.append(t)
    assert not leaked, f"test leaked threads: {[t.name for t in leaked]}"


def _children() -> set[int]:
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return {int(p) for p in fh.read().split()}
    except OSError:
        return set()


@pytest.fixture(autouse=True)
def _no_leaked_processes() -> Iterator[None]:
    before = _children()
    yield
    leaked = _children() - before
    for pid in leaked:  # reap zombies first: a finished, unreaped child is not a running server
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done == pid:
            continue
    still = [p for p in _children() - before if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]
    assert not still, f"test left child processes running: {still}"


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
