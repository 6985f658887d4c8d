"""``CaptureThread``: one dedicated thread owns one camera source and never lets it kill the node.

The thread reads frames into a bounded queue (drop-oldest, drops counted), stamps each one, paces
files and synthetic cameras at ``source.pace_fps``, and on failure or stall releases the source and
opens a new one with :class:`aiotwin.retry.Backoff` (an OpenCV capture never recovers). State changes
go to ``on_state(state, detail)``, called **from the capture thread**: hand them to the event loop with
``loop.call_soon_threadsafe``. Camera reads never run on the asyncio loop; :meth:`CaptureThread.async_get`
waits in a worker thread.

States: ``connecting`` (until the first frame) → ``streaming`` → ``reconnecting`` (source lost) →
``streaming`` … → ``ended`` (end of a file, :meth:`stop`, or a backoff that gives up).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from aiotwin.retry import DEFAULT_BASE_S, Backoff
from device_runtime._heap import HeapTrimmer
from device_runtime.camera.base import Frame, FrameSource, Image
from device_runtime.camera.opencv import READ_TIMEOUT_MS
from device_runtime.config import DEFAULT_QUEUE_FRAMES, CameraConfig

_LOG = logging.getLogger(__name__)

State = Literal["connecting", "streaming", "reconnecting", "ended"]
StateCallback = Callable[[State, str], None]
SourceFactory = Callable[[], FrameSource]

# A live source with no frame for this long is stalled and reopened. Above the FFmpeg read timeout
# (opencv.READ_TIMEOUT_MS, camera-sources.md) so that a network source's own timeout reports first.
STALL_S = 8.0
# stop() waits this long: one blocking read (READ_TIMEOUT_MS) plus margin to close the source.
JOIN_TIMEOUT_S = READ_TIMEOUT_MS / 1000 + 2.0
# How often a live source that said "no frame yet" is polled again.
POLL_S = 0.005


@dataclass(frozen=True)
class CaptureStats:
    """A snapshot of a capture thread's counters."""

    frames: int  # frames read from the source
    dropped: int  # frames dropped from a full queue (oldest first)
    reconnects: int  # times the source was lost and reopening started
    state: State
    detail: str
    queued: int


class _Pacer:
    """Spaces reads ``1/fps`` apart on a fixed schedule without bursting after falling behind."""

    def __init__(self, fps: float | None, stop: threading.Event) -> None:
        self._interval = 1.0 / fps if fps else 0.0
        self._stop = stop
        self._next: float | None = None

    def wait(self) -> bool:
        """Wait for the next slot; False when stopped meanwhile."""
        if not self._interval:
            return not self._stop.is_set()
        now = time.monotonic()
        due = now if self._next is None else self._next
        if due > now and self._stop.wait(due - now):
            return False
        self._next = max(due, now - self._interval) + self._interval
        return not self._stop.is_set()


class CaptureThread:
    """Reads one source in a dedicated thread; see the module docstring."""

    def __init__(self, open_source: SourceFactory, *, name: str = "camera",
                 queue_frames: int = DEFAULT_QUEUE_FRAMES, stall_s: float = STALL_S,
                 backoff: Backoff | None = None, on_state: StateCallback | None = None) -> None:
        if queue_frames < 1:
            raise ValueError("queue_frames must be >= 1")
        self._open = open_source
        self._name = name
        self._stall_s = stall_s
        self._backoff = backoff or Backoff()
        self._on_state = on_state
        self._queue: collections.deque[Frame] = collections.deque(maxlen=queue_frames)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)
        self._frames = self._dropped = self._reconnects = 0
        self._state: State = "connecting"
        self._detail = ""
        self._finished = False

    @classmethod
    def for_camera(cls, camera: CameraConfig, on_state: StateCallback | None = None) -> CaptureThread:
        """A capture thread for one configured camera (queue size, fps and reconnect cap from config)."""
        from device_runtime.camera._dispatch import open_source

        return cls(lambda: open_source(camera.source, fps=camera.fps), name=camera.id,
                   queue_frames=camera.queue_frames, on_state=on_state,
                   backoff=Backoff(base_s=DEFAULT_BASE_S, cap_s=camera.reconnect_max_s))

    def start(self) -> CaptureThread:
        self._thread.start()
        return self

    def __enter__(self) -> CaptureThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stats(self) -> CaptureStats:
        with self._cond:
            return CaptureStats(self._frames, self._dropped, self._reconnects, self._state, self._detail,
                                len(self._queue))

    def get(self, timeout: float | None = None) -> Frame | None:
        """The oldest queued frame; None after ``timeout`` s, or at once when the thread has ended."""
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._finished, timeout)
            return self._queue.popleft() if self._queue else None

    async def async_get(self, wait_s: float = 1.0) -> Frame | None:
        """:meth:`get` for coroutines: waits in a worker thread, never on the loop.

        At most ``wait_s`` per call, so that a cancelled caller frees its worker thread soon.
        """
        return await asyncio.to_thread(self.get, wait_s)

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Stop and join the thread; False when it is still blocked in a read after ``timeout``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            _LOG.error("capture %s: thread still blocked in a read after %.1f s", self._name, timeout)
            return False
        return True

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        self._set_state("connecting", "opening", announce=True)
        try:
            while not self._stop.is_set():
                source = self._connect()
                if source is None:
                    break
                try:
                    ended = self._stream(source)
                finally:
                    _close(source)
                if ended:
                    self._set_state("ended", f"end of {source.describe()}")
                    break
        except Exception:  # a bug must not kill the node: say so and end this camera only
            _LOG.exception("capture %s: crashed", self._name)
            self._set_state("ended", "capture thread crashed (see log)")
        finally:
            if self._state != "ended":
                self._set_state("ended", "stopped")
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _connect(self) -> FrameSource | None:
        """Open the source, backing off between failures; None when stopped or given up."""
        while not self._stop.is_set():
            try:
                return self._open()
            except Exception as exc:  # SourceError, or anything a binding lets through
                delay = self._backoff.next_delay()
                if delay is None:
                    self._set_state("ended", f"gave up opening: {exc}")
                    return None
                self._set_state(self._state, f"open failed: {exc}; retry in {delay:.1f} s")
                self._stop.wait(delay)
        return None

    def _stream(self, source: FrameSource) -> bool:
        """Read until stopped (False), lost (False, after reporting) or at the end of a file (True)."""
        pacer = _Pacer(source.pace_fps, self._stop)
        # Fix glibc's mmap threshold above this source's frame size, and hand back the heap freed
        # after the allocation peaks of opening it and of the first frames (_heap.py).
        trimmer = HeapTrimmer()
        last = time.monotonic()
        while pacer.wait():
            try:
                image = source.read()
            except Exception as exc:  # SourceError, cv2.error, a renderer bug: reopen
                self._lost(f"{source.describe()}: {exc}")
                return False
            now = time.monotonic()
            if image is None and not source.is_live:
                return True
            if now - last > self._stall_s:
                self._lost(f"{source.describe()}: stalled, no frame for {now - last:.1f} s")
                return False
            if image is None:
                self._stop.wait(POLL_S)
                continue
            last = now
            self._push(image, now)
            trimmer.frame(getattr(image, "nbytes", 0))
        return False

    def _push(self, image: Image, now: float) -> None:
        with self._cond:
            if len(self._queue) == self._queue.maxlen:
                self._dropped += 1  # the deque drops the oldest on append
            self._queue.append(Frame(self._frames, now, datetime.now(UTC), image))
            self._frames += 1
            self._cond.notify()
        if self._state != "streaming":
            self._backoff.succeeded()
            self._set_state("streaming", "")

    def _lost(self, detail: str) -> None:
        with self._cond:
            self._reconnects += 1
        self._set_state("reconnecting", detail)

    def _set_state(self, state: State, detail: str, *, announce: bool = False) -> None:
        changed = announce or state != self._state
        with self._cond:
            self._state, self._detail = state, detail
        if not changed:
            _LOG.debug("capture %s: %s (%s)", self._name, state, detail)
            return
        _LOG.info("capture %s: %s %s", self._name, state, detail)
        if self._on_state is not None:
            try:
                self._on_state(state, detail)
            except Exception:
                _LOG.exception("capture %s: on_state callback failed", self._name)


def _close(source: FrameSource) -> None:
    try:
        source.close()
    except Exception:  # releasing a broken capture may raise: it is gone either way
        _LOG.debug("closing %s failed", source.describe(), exc_info=True)


__all__ = ["JOIN_TIMEOUT_S", "POLL_S", "STALL_S", "CaptureStats", "CaptureThread", "SourceFactory",
           "State", "StateCallback"]
