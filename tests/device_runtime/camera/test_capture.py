"""CaptureThread with scripted fake sources: queueing, dropping, stamping, pacing, reconnects, stalls."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from aiotwin.retry import Backoff
from device_runtime._exceptions import SourceError
from device_runtime.camera import CaptureThread
from tests.device_runtime.camera.conftest import FakeSource

WAIT_S = 5.0


def fast_backoff(**kw) -> Backoff:
    return Backoff(base_s=0.01, cap_s=0.05, rng=random.Random(1), **kw)


class States:
    """Collects on_state calls; waits for a given state."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, state: str, detail: str) -> None:
        with self._cond:
            self.seen.append((state, detail))
            self._cond.notify_all()

    def wait_for(self, state: str, count: int = 1) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.names().count(state) >= count, WAIT_S)

    def names(self) -> list[str]:
        return [s for s, _ in self.seen]


def test_file_like_source_fills_bounded_queue_dropping_oldest():
    states = States()
    cap = CaptureThread(lambda: FakeSource(["frame"] * 10, live=False), queue_frames=3, on_state=states)
    with cap:
        assert states.wait_for("ended")
        stats = cap.stats
        frames = [cap.get(0.1) for _ in range(4)]
    assert (stats.frames, stats.dropped, stats.queued, stats.reconnects) == (10, 7, 3, 0)
    assert [f.index for f in frames[:3]] == [7, 8, 9]
    assert frames[3] is None  # ended and drained: no waiting
    assert states.names() == ["connecting", "streaming", "ended"]
    assert frames[0].ts_monotonic <= frames[1].ts_monotonic
    assert frames[0].ts_utc.tzinfo is not None


def test_failure_reconnects_with_a_new_source():
    sources: list[FakeSource] = []

    def factory() -> FakeSource:
        sources.append(FakeSource(["frame", "frame", "fail"] if len(sources) == 0 else []))
        return sources[-1]

    states = States()
    with CaptureThread(factory, backoff=fast_backoff(), on_state=states) as cap:
        assert states.wait_for("streaming", 2)
        assert cap.get(WAIT_S) is not None
        assert cap.stats.reconnects == 1
    assert states.names()[:4] == ["connecting", "streaming", "reconnecting", "streaming"]
    assert "scripted failure" in states.seen[2][1]
    assert sources[0].closed
    assert len(sources) == 2


def test_open_failures_back_off_then_stream():
    attempts = []

    def factory() -> FakeSource:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise SourceError("camera not there yet")
        return FakeSource([])

    states = States()
    with CaptureThread(factory, backoff=fast_backoff(), on_state=states) as cap:
        assert states.wait_for("streaming")
        assert "camera not there yet" in cap.stats.detail or cap.stats.state == "streaming"
    assert len(attempts) == 3
    assert states.names()[:2] == ["connecting", "streaming"]


def test_gives_up_when_backoff_does():
    def factory() -> FakeSource:
        raise SourceError("no such camera")

    states = States()
    with CaptureThread(factory, backoff=fast_backoff(max_attempts=2), on_state=states) as cap:
        assert states.wait_for("ended")
        assert cap.get(0.01) is None
    assert "gave up" in states.seen[-1][1]


def test_stall_reconnects():
    sources: list[FakeSource] = []

    def factory() -> FakeSource:
        sources.append(FakeSource(["frame"] + ["none"] * 100_000 if not sources else []))
        return sources[-1]

    states = States()
    with CaptureThread(factory, stall_s=0.2, backoff=fast_backoff(), on_state=states) as cap:
        assert states.wait_for("streaming", 2)
        assert cap.stats.reconnects == 1
    assert "stalled" in states.seen[2][1]


def test_pacing_spaces_reads():
    fps = 40.0
    with CaptureThread(lambda: FakeSource([], pace_fps=fps), queue_frames=100) as cap:
        first = cap.get(WAIT_S)
        for _ in range(8):
            last = cap.get(WAIT_S)
    assert first is not None and last is not None
    assert last.ts_monotonic - first.ts_monotonic >= 8 / fps * 0.9


def test_callback_errors_do_not_kill_the_thread(caplog):
    def bad_callback(state: str, detail: str) -> None:
        raise RuntimeError("callback bug")

    with CaptureThread(lambda: FakeSource([]), on_state=bad_callback) as cap:
        assert cap.get(WAIT_S) is not None
    assert "on_state callback failed" in caplog.text


def test_a_crashing_source_is_reopened():
    calls = []

    def boom() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("binding bug")

    states = States()
    with CaptureThread(lambda: FakeSource([], on_read=boom), backoff=fast_backoff(), on_state=states):
        assert states.wait_for("streaming", 2)
    assert "binding bug" in states.seen[2][1]


def test_stop_joins_and_ends():
    states = States()
    cap = CaptureThread(lambda: FakeSource([]), on_state=states).start()
    assert cap.get(WAIT_S) is not None
    assert cap.stop()
    assert cap.stats.state == "ended"
    assert states.seen[-1] == ("ended", "stopped")


def test_async_get_does_not_block_the_loop():
    async def main() -> int | None:
        cap = CaptureThread(lambda: FakeSource([]), queue_frames=2).start()
        try:
            frame = await cap.async_get(WAIT_S)
        finally:
            await asyncio.to_thread(cap.stop)
        return None if frame is None else frame.index

    assert asyncio.run(main()) is not None


def test_queue_size_must_be_positive():
    with pytest.raises(ValueError, match="queue_frames"):
        CaptureThread(lambda: FakeSource([]), queue_frames=0)
