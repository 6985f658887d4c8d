"""Heap tuning after allocation peaks: the schedule, the glibc calls, and the capture thread's use of them."""

from __future__ import annotations

import threading

import pytest

from device_runtime import _heap
from device_runtime._heap import MIN_MMAP_THRESHOLD, HeapTrimmer, env_overrides, fit_mmap_threshold, release_free_heap
from device_runtime.camera import CaptureThread
from tests.device_runtime.camera.conftest import FakeSource


def _trimmer(settle: int, every: int, calls: list[int], fits: list[int] | None = None) -> HeapTrimmer:
    def release() -> bool:
        calls.append(trimmer.frames)
        return True

    def fit(nbytes: int) -> int | None:
        if fits is not None:
            fits.append(nbytes)
        return None

    trimmer = HeapTrimmer(settle=settle, every=every, release=release, fit=fit)
    return trimmer


def test_trims_after_the_first_frame_the_warm_up_and_then_rarely():
    calls: list[int] = []
    fits: list[int] = []
    trimmer = _trimmer(5, 10, calls, fits)
    trimmed = [n for n in range(1, 40) if trimmer.frame(1000 + n)]
    assert trimmed == calls == [1, 5, 15, 25, 35]
    assert trimmer.trims == 5
    assert fits == [1001]  # the threshold is fitted to the first frame only


def test_settle_at_one_trims_once_for_the_first_frame():
    calls: list[int] = []
    trimmer = _trimmer(1, 3, calls)
    for _ in range(7):
        trimmer.frame()
    assert calls == [1, 4, 7]


@pytest.mark.parametrize(("settle", "every"), [(0, 5), (6, 5)])
def test_bad_schedule(settle, every):
    with pytest.raises(ValueError, match="settle"):
        HeapTrimmer(settle=settle, every=every)


def test_release_is_a_no_op_without_malloc_trim(monkeypatch):
    assert isinstance(release_free_heap(), bool)  # glibc: the real call; elsewhere False
    monkeypatch.setattr(_heap, "_libc_function", lambda name: None)
    assert release_free_heap() is False
    assert fit_mmap_threshold(10**6) is None


class FakeMallopt:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, param, value) -> int:
        self.calls.append((param.value, value.value))
        return 1


def test_threshold_sits_above_the_frame_and_never_drops(monkeypatch):
    mallopt = FakeMallopt()
    monkeypatch.setattr(_heap, "_libc_function", lambda name: mallopt)
    monkeypatch.setattr(_heap, "_threshold", 0)
    assert fit_mmap_threshold(1280 * 720 * 3, env={}) == MIN_MMAP_THRESHOLD  # 720p: the floor
    big = fit_mmap_threshold(3840 * 2160 * 3, env={})  # 4K: above the frame
    assert big is not None and big > 3840 * 2160 * 3
    assert fit_mmap_threshold(640 * 480 * 3, env={}) == big  # a smaller camera does not lower it
    mmap, trim = _heap.M_MMAP_THRESHOLD, _heap.M_TRIM_THRESHOLD
    assert mallopt.calls == [(mmap, MIN_MMAP_THRESHOLD), (trim, 2 * MIN_MMAP_THRESHOLD), (mmap, big), (trim, 2 * big)]


@pytest.mark.parametrize("env", [{"MALLOC_MMAP_THRESHOLD_": "131072"}, {"MALLOC_TRIM_THRESHOLD_": "0"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}])
def test_the_environment_wins(monkeypatch, env):
    mallopt = FakeMallopt()
    monkeypatch.setattr(_heap, "_libc_function", lambda name: mallopt)
    assert env_overrides(env)
    assert fit_mmap_threshold(10**6, env=env) is None
    assert mallopt.calls == []


def test_capture_thread_tunes_its_stream_on_schedule(monkeypatch):
    from device_runtime.camera import capture

    calls: list[int] = []
    fits: list[int] = []
    ended = threading.Event()
    monkeypatch.setattr(capture, "HeapTrimmer", lambda: _trimmer(3, 100, calls, fits))
    with CaptureThread(lambda: FakeSource(["frame"] * 5, live=False), queue_frames=8,
                       on_state=lambda state, _: state == "ended" and ended.set()) as cap:
        assert ended.wait(5.0)
    assert cap.stats.frames == 5
    assert calls == [1, 3]
    assert len(fits) == 1  # fitted to the first frame only
