"""The daemon lifecycle shared by every role (aiocoap ``AsyncCLIDaemon`` shape).

``async start()`` returns when the service is ready and logs ``ready``; ``async shutdown()`` stops
it; SIGTERM/SIGINT trigger a clean shutdown. :class:`TaskSet` owns every background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any, Protocol

from aiotwin.exitcodes import ExitCode

_LOG = logging.getLogger(__name__)


class Daemon(Protocol):
    """What :func:`run_daemon` drives."""

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...


class TaskSet:
    """Owns background tasks: keeps them, drops finished ones, cancels and awaits them on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOG.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()


async def run_daemon(daemon: Daemon, *, name: str, logger: logging.Logger | None = None) -> ExitCode:
    """Start ``daemon``, wait for SIGTERM/SIGINT, shut it down cleanly; return the exit code."""
    log = logger or _LOG
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def _on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _on_signal, sig)
    try:
        await daemon.start()
        log.info("%s ready", name)
        waiter = getattr(daemon, "wait_finished", None)
        if waiter is not None:
            done_task = asyncio.ensure_future(waiter())
            stop_task = asyncio.ensure_future(stop.wait())
            await asyncio.wait({done_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            for t in (done_task, stop_task):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        else:
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("%s shutting down", name)
        await daemon.shutdown()
        log.info("%s stopped", name)
    if received and received[0] is signal.SIGINT:
        return ExitCode.INTERRUPTED
    return ExitCode.SUCCESS


__all__ = ["Daemon", "TaskSet", "run_daemon"]
