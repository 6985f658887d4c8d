"""Heap trimming after allocation peaks: the schedule, the libc call, and the capture thread's use of it."""

from __future__ import annotations

import threading

import pytest

from device_runtime import _heap
from device_runtime._heap import HeapTrimmer, release_free_heap
from device_runtime.camera import CaptureThread
from tests.device_runtime.camera.conftest import FakeSource


def test_trims_after_the_first_frame_the_warm_up_and_then_rarely():
    calls: list[int] = []
    trimmer = HeapTrimmer(settle=5, every=10, release=lambda: calls.append(trimmer.frames) is None)
    trimmed = [n for n in range(1, 40) if trimmer.frame()]
    assert trimmed == calls == [1, 5, 15, 25, 35]
    assert trimmer.trims == 5


def test_settle_at_one_trims_once_for_the_first_frame():
    calls: list[int] = []
    trimmer = HeapTrimmer(settle=1, every=3, release=lambda: calls.append(trimmer.frames) is None)
    for _ in range(7):
        trimmer.frame()
    assert calls == [1, 4, 7]


@pytest.mark.parametrize(("settle", "every"), [(0, 5), (6, 5)])
def test_bad_schedule(settle, every):
    with pytest.raises(ValueError, match="settle"):
        HeapTrimmer(settle=settle, every=every)


def test_release_is_a_no_op_without_malloc_trim(monkeypatch):
    assert isinstance(release_free_heap(), bool)  # glibc: the real call; elsewhere False
    monkeypatch.setattr(_heap, "_malloc_trim", lambda: None)
    assert release_free_heap() is False


def test_capture_thread_trims_its_stream_on_schedule(monkeypatch):
    from device_runtime.camera import capture

    frames_at_trim: list[int] = []
    ended = threading.Event()

    def trimmer() -> HeapTrimmer:
        t = HeapTrimmer(settle=3, every=100, release=lambda: frames_at_trim.append(t.frames) is None)
        return t

    monkeypatch.setattr(capture, "HeapTrimmer", trimmer)
    with CaptureThread(lambda: FakeSource(["frame"] * 5, live=False), queue_frames=8,
                       on_state=lambda state, _: state == "ended" and ended.set()) as cap:
        assert ended.wait(5.0)
    assert cap.stats.frames == 5
    assert frames_at_trim == [1, 3]
