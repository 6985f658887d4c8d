"""Run a frame source through a :class:`CameraPipeline` to the end (the ``run`` verb, benchmarks).

A reader thread decodes frames into a small bounded queue (it blocks when the queue is full: a file
is processed whole, nothing is dropped) and times each ``read()``; the calling thread processes.
Latency per frame = decode + every pipeline stage.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from aiotwin.wire import Event
from device_runtime.pipeline.counter import Counts
from device_runtime.pipeline.pipeline import STAGES, CameraPipeline

READ_QUEUE_FRAMES = 8  # frames decoded ahead of the pipeline
PUT_TIMEOUT_S = 0.1  # the reader re-checks the stop flag this often while the queue is full
READER_JOIN_S = 10.0

Frame = npt.NDArray[np.uint8]


class FrameReader(Protocol):
    """The part of a camera source the runner needs: ``read()`` → frame, or None at the end."""

    def read(self) -> Frame | None: ...


@dataclass
class RunResult:
    """Totals of one run."""

    frames: int
    counts: Counts
    events: int
    wall_s: float
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p95, max
    stages_ms: dict[str, float] = field(default_factory=dict)  # mean per frame, decode included

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


_Item = tuple[Frame, float, float]  # frame, decode ms, capture time (epoch s)


class _Reader(threading.Thread):
    def __init__(self, source: FrameReader, limit: int | None, clock: Callable[[], float]) -> None:
        super().__init__(name="pipeline-reader", daemon=True)
        self.source, self.limit, self.clock = source, limit, clock
        self.out: queue.Queue[_Item | None] = queue.Queue(maxsize=READ_QUEUE_FRAMES)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # handed to the consumer thread
            self.error = exc
        finally:
            self._put(None)

    def _loop(self) -> None:
        n = 0
        while not self.stop.is_set() and (self.limit is None or n < self.limit):
            t0 = self.clock()
            frame = self.source.read()
            if frame is None:
                return
            self._put((frame, (self.clock() - t0) * 1000.0, time.time()))
            n += 1

    def _put(self, item: _Item | None) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=PUT_TIMEOUT_S)
            except queue.Full:
                continue
            return


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def run_source(
    source: FrameReader, pipeline: CameraPipeline, frames: int | None = None,
    on_event: Callable[[Event], None] | None = None, clock: Callable[[], float] = time.perf_counter,
) -> RunResult:
    """Process ``source`` to its end (or ``frames`` frames) and flush the pipeline."""
    reader = _Reader(source, frames, clock)
    totals = dict.fromkeys(("decode", *STAGES), 0.0)
    latencies: list[float] = []
    n_events = 0
    start = clock()
    reader.start()
    try:
        while (item := reader.out.get()) is not None:
            frame, decode_ms, ts = item
            result = pipeline.process(frame, ts)
            totals["decode"] += decode_ms
            for stage, ms in result.timings_ms.items():
                totals[stage] = totals.get(stage, 0.0) + ms
            latencies.append(decode_ms + sum(result.timings_ms.values()))
            n_events += _deliver(result.events, on_event)
        n_events += _deliver(pipeline.finish(), on_event)
    finally:
        reader.stop.set()
        reader.join(READER_JOIN_S)
    if reader.error is not None:
        raise reader.error
    return _result(pipeline, latencies, totals, n_events, clock() - start)


def _deliver(events: list[Event], on_event: Callable[[Event], None] | None) -> int:
    if on_event is not None:
        for event in events:
            on_event(event)
    return len(events)


def _result(pipeline: CameraPipeline, lat: list[float], totals: dict[str, float], events: int,
            wall: float) -> RunResult:
    n = len(lat)
    stages = {k: round(v / n, 3) if n else 0.0 for k, v in totals.items()}
    latency = {"p50": round(percentile(lat, 50), 3), "p95": round(percentile(lat, 95), 3),
               "max": round(max(lat, default=0.0), 3)}
    counts = {cls: dict(d) for cls, d in pipeline.counts.items()}
    return RunResult(n, counts, events, wall, latency, stages)


__all__ = ["FrameReader", "RunResult", "percentile", "run_source"]
