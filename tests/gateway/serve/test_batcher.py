"""Micro-batching policy on a real event loop, with a plain coroutine standing in for the worker."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from aiotwin.lifecycle import TaskSet
from gateway import InstanceOverloaded, MalformedInput
from gateway.serve import BatchResult, MicroBatcher, Prediction, TensorInput

CROP = TensorInput(np.zeros((2, 2, 3), dtype=np.uint8))


class Worker:
    """Records batch sizes; each batch takes ``service_s`` on the loop (an awaited sleep)."""

    def __init__(self, service_s: float = 0.0, fail: bool = False) -> None:
        self.sizes: list[int] = []
        self.service_s = service_s
        self.fail = fail

    async def run(self, payloads):
        self.sizes.append(len(payloads))
        await asyncio.sleep(self.service_s)
        if self.fail:
            raise RuntimeError("engine exploded")
        return BatchResult([Prediction((f"#{i}",), (1.0,)) for i in range(len(payloads))], self.service_s)


async def _with(batcher: MicroBatcher, coro):
    tasks = TaskSet()
    batcher.async_start(tasks)
    try:
        return await coro
    finally:
        batcher.async_close()
        await tasks.close()


def test_concurrent_requests_share_batches_of_at_most_max_batch():
    worker = Worker(service_s=0.02)
    hooked: list[int] = []
    batcher = MicroBatcher(worker.run, max_batch=8, max_wait_s=0.005, max_queue=100,
                           on_batch=lambda n, _s: hooked.append(n))

    async def main():
        return await asyncio.gather(*(batcher.submit(CROP) for _ in range(30)))

    results = asyncio.run(_with(batcher, main()))
    assert len(results) == 30
    assert sum(worker.sizes) == 30
    assert max(worker.sizes) <= 8
    assert len(worker.sizes) < 30
    assert hooked == worker.sizes


def test_a_lone_request_waits_at_most_max_wait():
    worker = Worker()
    batcher = MicroBatcher(worker.run, max_batch=8, max_wait_s=0.05, max_queue=10)

    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await batcher.submit(CROP)
        return loop.time() - t0

    elapsed = asyncio.run(_with(batcher, main()))
    assert 0.04 <= elapsed < 1.0
    assert worker.sizes == [1]


def test_zero_wait_takes_what_is_queued():
    worker = Worker()
    batcher = MicroBatcher(worker.run, max_batch=8, max_wait_s=0.0, max_queue=10)

    async def main():
        await batcher.submit(CROP)
        return await asyncio.gather(*(batcher.submit(CROP) for _ in range(5)))

    asyncio.run(_with(batcher, main()))
    assert worker.sizes[0] == 1
    assert sum(worker.sizes) == 6


def test_a_full_queue_answers_overloaded():
    worker = Worker(service_s=0.05)
    batcher = MicroBatcher(worker.run, max_batch=1, max_wait_s=0.0, max_queue=2)

    async def main():
        return await asyncio.gather(*(batcher.submit(CROP) for _ in range(6)), return_exceptions=True)

    results = asyncio.run(_with(batcher, main()))
    overloaded = [r for r in results if isinstance(r, InstanceOverloaded)]
    assert overloaded
    assert all(isinstance(r, Prediction | InstanceOverloaded) for r in results)
    assert overloaded[0].status == 503


def test_a_failing_batch_fails_its_requests_and_the_next_batch_runs():
    worker = Worker(fail=True)
    batcher = MicroBatcher(worker.run, max_batch=4, max_wait_s=0.0, max_queue=10)

    async def main():
        first = await asyncio.gather(batcher.submit(CROP), return_exceptions=True)
        worker.fail = False
        return first, await batcher.submit(CROP)

    (first,), second = asyncio.run(_with(batcher, main()))
    assert isinstance(first, RuntimeError)
    assert isinstance(second, Prediction)


def test_per_request_errors_reach_only_their_request():
    async def run(payloads):
        return BatchResult([MalformedInput("bad"), Prediction(("car",), (0.9,))], 0.0)

    batcher = MicroBatcher(run, max_batch=2, max_wait_s=0.05, max_queue=10)

    async def main():
        return await asyncio.gather(batcher.submit(CROP), batcher.submit(CROP), return_exceptions=True)

    bad, good = asyncio.run(_with(batcher, main()))
    assert isinstance(bad, MalformedInput)
    assert good == Prediction(("car",), (0.9,))


def test_closing_fails_waiting_requests_with_503():
    worker = Worker(service_s=0.2)
    batcher = MicroBatcher(worker.run, max_batch=1, max_wait_s=0.0, max_queue=10)
    tasks = TaskSet()

    async def main():
        batcher.async_start(tasks)
        pending = [asyncio.ensure_future(batcher.submit(CROP)) for _ in range(3)]
        await asyncio.sleep(0.05)
        batcher.async_close()
        await tasks.close()
        results = await asyncio.gather(*pending, return_exceptions=True)
        with pytest.raises(InstanceOverloaded):
            await batcher.submit(CROP)
        return results

    results = asyncio.run(main())
    assert all(isinstance(r, InstanceOverloaded) for r in results)
