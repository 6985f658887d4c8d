"""Micro-batching on the event loop: concurrent requests share one engine call.

One consumer task (owned by the server's :class:`~aiotwin.lifecycle.TaskSet`) takes the oldest
waiting request, then collects more until the batch holds ``max_batch`` requests or ``max_wait``
has passed *since that oldest request arrived*, and hands the batch to the worker thread. While the
worker runs, new requests queue up, so a busy instance batches more without waiting longer; an
idle one answers a lone request after at most ``max_wait``. ``max_wait = 0`` never waits: a batch is
whatever is queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiotwin.lifecycle import TaskSet
from gateway._exceptions import InstanceOverloaded
from gateway.serve._codec import Payload
from gateway.serve._worker import BatchResult, Outcome, Prediction

_LOG = logging.getLogger(__name__)

RunBatch = Callable[[list[Payload]], Awaitable[BatchResult]]
BatchHook = Callable[[int, float], None]  # (batch size, service seconds), on the loop


@dataclass
class _Job:
    payload: Payload
    future: asyncio.Future[Prediction]
    arrived: float  # loop time


class MicroBatcher:
    """See the module docstring. Every method runs on the event loop."""

    def __init__(self, run: RunBatch, *, max_batch: int, max_wait_s: float, max_queue: int,
                 on_batch: BatchHook | None = None) -> None:
        self._run = run
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._max_queue = max_queue
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._running = 0
        self._closed = False

    @property
    def queued(self) -> int:
        """Requests waiting for a batch."""
        return self._queue.qsize()

    @property
    def in_flight(self) -> int:
        """Requests accepted and not yet answered (queued + in the running batch)."""
        return self._queue.qsize() + self._running

    def async_start(self, tasks: TaskSet) -> None:
        tasks.spawn(self._consume(), name="aiotwin-gateway-batcher")

    async def submit(self, payload: Payload) -> Prediction:
        """Queue one request and wait for its outcome (a prediction, or the request's error)."""
        if self._closed:
            raise InstanceOverloaded("the instance is shutting down")
        if self._queue.qsize() >= self._max_queue:
            raise InstanceOverloaded(f"{self._max_queue} requests already wait: try another instance")
        loop = asyncio.get_running_loop()
        job = _Job(payload, loop.create_future(), loop.time())
        self._queue.put_nowait(job)
        return await job.future

    async def _consume(self) -> None:
        while True:
            batch = await self._collect(await self._queue.get())
            live = [job for job in batch if not job.future.done()]  # drop requests whose client left
            if live:
                await self._dispatch(live)

    async def _collect(self, first: _Job) -> list[_Job]:
        batch = [first]
        self._drain(batch)
        deadline = first.arrived + self._max_wait_s
        try:
            async with asyncio.timeout_at(deadline):
                while len(batch) < self._max_batch:
                    batch.append(await self._queue.get())
        except TimeoutError:
            pass
        return batch

    def _drain(self, batch: list[_Job]) -> None:
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _dispatch(self, batch: list[_Job]) -> None:
        self._running = len(batch)
        try:
            result = await self._run([job.payload for job in batch])
        except asyncio.CancelledError:
            for job in batch:
                _settle(job, InstanceOverloaded("the instance is shutting down"))
            raise
        except Exception as exc:  # an engine failure fails this batch, never the consumer
            _LOG.exception("batch of %d failed", len(batch))
            for job in batch:
                _settle(job, exc)
            return
        finally:
            self._running = 0
        for job, outcome in zip(batch, result.outcomes, strict=True):
            _settle(job, outcome)
        if self._on_batch is not None:
            self._on_batch(len(batch), result.service_s)

    def async_close(self) -> None:
        """Refuse new requests and fail the queued ones (503); the consumer task is the TaskSet's."""
        self._closed = True
        while not self._queue.empty():
            _settle(self._queue.get_nowait(), InstanceOverloaded("the instance is shutting down"))


def _settle(job: _Job, outcome: Outcome | BaseException) -> None:
    if job.future.done():
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)


__all__ = ["BatchHook", "MicroBatcher", "RunBatch"]
