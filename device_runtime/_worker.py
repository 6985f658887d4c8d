"""One camera's worker thread: capture queue → ``CameraPipeline.process`` → outbox.

Threads, never the event loop, read frames and run inference (STYLE rule 10). Events go into the
outbox from this thread: the SQLite commit (an fsync) happens before the frame counts as
processed, no loop hop is needed, and the loop never waits on disk. The capture thread's state
callback turns source loss/recovery into :class:`HealthEvent` s, also stored from that thread.
With a :class:`~device_runtime.drift.DriftDetector`, each frame's predictions feed it, and the
onset of a drift episode becomes a :class:`~aiotwin.wire.DriftEvent` stored with the frame's events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aiotwin.wire import CountEvent, Event, HealthEvent
from device_runtime._exceptions import OutboxError
from device_runtime._metrics import CAMERA_STATES, CaptureCounters, NodeMetrics

if TYPE_CHECKING:
    from device_runtime.camera import CaptureStats, Frame
    from device_runtime.camera.base import Image
    from device_runtime.drift import DriftDetector
    from device_runtime.pipeline import FrameResult

_LOG = logging.getLogger(__name__)

GET_TIMEOUT_S = 0.2  # how often an idle worker re-checks its stop flag
FPS_WINDOW = 60  # frames in the fps window
LATENCY_WINDOW = 512  # frames in the p50/p95 window
JOIN_TIMEOUT_S = 10.0  # a worker drains ≤ queue_frames frames, then flushes tracks; never takes this long


class Capture(Protocol):
    """What the worker needs of :class:`device_runtime.camera.CaptureThread`."""

    def get(self, timeout: float | None = None) -> Frame | None: ...

    def stop(self, timeout: float = ...) -> bool: ...

    @property
    def stats(self) -> CaptureStats: ...


class Pipeline(Protocol):
    """What the worker needs of :class:`device_runtime.pipeline.CameraPipeline`."""

    def process(self, frame_bgr: Image, ts: float | None = None) -> FrameResult: ...

    def finish(self, ts: float | None = None) -> list[Event]: ...


EventSink = Callable[[Sequence[Event]], None]


@dataclass
class CameraSnapshot:
    """One camera's numbers for the live table and ``/healthz`` (a copy; safe to keep)."""

    camera_id: str
    state: str = "connecting"
    detail: str = ""
    frames: int = 0
    fps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    capture: CaptureCounters | None = None


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


class CameraWorker:
    """Drives one camera; see the module docstring. ``start``/``stop`` from any thread."""

    def __init__(self, camera_id: str, pipeline: Pipeline, sink: EventSink, metrics: NodeMetrics, *,
                 max_frames: int | None = None, on_done: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, drift: DriftDetector | None = None) -> None:
        self.camera_id = camera_id
        self.drift = drift
        self._pipeline = pipeline
        self._sink = sink
        self._metrics = metrics
        self._max_frames = max_frames
        self._on_done = on_done
        self._clock = clock
        self._capture: Capture | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self._snap = CameraSnapshot(camera_id)
        self._done_times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._lost = False
        self._thread = threading.Thread(target=self._run, name=f"aiotwin-worker-{camera_id}", daemon=True)
        metrics.camera_state.labels(camera_id).state("connecting")

    def attach(self, capture: Capture) -> None:
        """Set the capture to read from (created after the worker: its state callback is ours)."""
        self._capture = capture

    # -- capture-thread callback -----------------------------------------------------------------

    def on_state(self, state: str, detail: str = "") -> None:
        """Capture state callback (capture thread): record it; loss/recovery become health events."""
        with self._lock:
            self._snap.state, self._snap.detail = state, detail
        if state in CAMERA_STATES:
            self._metrics.camera_state.labels(self.camera_id).state(state)
        event: HealthEvent | None = None
        if state == "reconnecting" and not self._lost:
            self._lost = True
            event = HealthEvent(self.camera_id, "source_lost", True, detail)
        elif state == "streaming" and self._lost:
            self._lost = False
            event = HealthEvent(self.camera_id, "source_restored", False, detail)
        if state == "ended":
            self._ended.set()
        if event is not None:
            _LOG.warning("camera %s: %s (%s)", self.camera_id, event.condition, detail or state)
            self._store([event])

    # -- worker thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._capture is None:
            raise RuntimeError("attach() a capture before start()")
        self._thread.start()

    def _run(self) -> None:
        assert self._capture is not None
        try:
            while not self._limit_reached():
                frame = self._capture.get(GET_TIMEOUT_S if not self._stop.is_set() else 0.0)
                if frame is None:
                    if self._stop.is_set() or self._ended.is_set():
                        break
                    continue
                self._process(frame)
        except Exception:
            _LOG.exception("camera %s: worker failed", self.camera_id)
        finally:
            self._finish()

    def _limit_reached(self) -> bool:
        return self._max_frames is not None and self._snap.frames >= self._max_frames

    def _process(self, frame: Frame) -> None:
        t0 = self._clock()
        queued_s = max(0.0, t0 - frame.ts_monotonic)
        result = self._pipeline.process(frame.image, frame.ts_utc.timestamp())
        elapsed = self._clock() - t0
        self._store([*result.events, *self._drift_events(result)])
        stages = {k: ms / 1e3 for k, ms in result.timings_ms.items()}
        stages["queue"] = queued_s
        self._record(elapsed, result.events, stages)

    def _drift_events(self, result: FrameResult) -> list[Event]:
        """Feed the frame's predictions to the drift detector; the event of an episode's onset."""
        if self.drift is None or not result.predictions:
            return []
        report = self.drift.update(result.predictions, result.model_version)
        self._metrics.set_drift(self.camera_id, self.drift.divergences, self.drift.active)
        if report is None:
            return []
        self._metrics.drift_reports.labels(self.camera_id).inc()
        _LOG.info("camera %s: predictions drifted (%s, %s %.3f >= %g) from model v%d's reference", self.camera_id,
                  report.distribution, report.metric, report.divergence, report.threshold, report.model_version)
        return [report.event(self.camera_id)]

    def _finish(self) -> None:
        """Stop reading, flush tracks still open in the pipeline, report done."""
        if self._capture is not None:
            self._capture.stop()
        try:
            self._store(self._pipeline.finish(time.time()))
        except Exception:
            _LOG.exception("camera %s: pipeline finish failed", self.camera_id)
        if self._on_done is not None:
            self._on_done(self.camera_id)

    def _store(self, events: Sequence[Event]) -> None:
        if not events:
            return
        try:
            self._sink(events)
        except OutboxError as exc:
            self._metrics.outbox_errors.inc()
            _LOG.error("camera %s: %d event(s) not stored: %s", self.camera_id, len(events), exc)
        for e in events:
            if isinstance(e, HealthEvent):
                self._metrics.health_events.labels(self.camera_id, e.condition).inc()

    def _record(self, elapsed: float, events: Sequence[Event], timings: dict[str, float]) -> None:
        m, cam = self._metrics, self.camera_id
        m.frames_processed.labels(cam).inc()
        for stage, seconds in timings.items():
            m.stage_latency.labels(cam, stage).observe(seconds)
        m.stage_latency.labels(cam, "total").observe(elapsed)
        with self._lock:
            self._snap.frames += 1
            self._done_times.append(self._clock())
            self._latencies.append(elapsed)
            for e in events:
                if isinstance(e, CountEvent):
                    key = f"{e.cls}/{e.direction}"
                    self._snap.counts[key] = self._snap.counts.get(key, 0) + 1
                    m.counts.labels(cam, e.cls, e.direction).inc()
        m.fps.labels(cam).set(self._fps())

    def _fps(self) -> float:
        times = self._done_times
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    # -- any thread ------------------------------------------------------------------------------

    def snapshot(self) -> CameraSnapshot:
        with self._lock:
            lat = sorted(self._latencies)
            snap = CameraSnapshot(self.camera_id, self._snap.state, self._snap.detail, self._snap.frames,
                                  self._fps(), counts=dict(self._snap.counts))
        if lat:
            snap.p50_ms, snap.p95_ms = _percentile(lat, 0.5) * 1e3, _percentile(lat, 0.95) * 1e3
        snap.capture = self.capture_counters()
        return snap

    def capture_counters(self) -> CaptureCounters | None:
        if self._capture is None:
            return None
        st = self._capture.stats
        return CaptureCounters(self.camera_id, st.frames, st.dropped, st.reconnects)

    def stop(self, timeout: float = JOIN_TIMEOUT_S) -> bool:
        """Stop the capture, drain its queue, flush tracks, join (blocking: call from a thread).

        ``True`` when the worker thread has ended.
        """
        if self._capture is not None:
            self._capture.stop()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()


__all__ = ["FPS_WINDOW", "GET_TIMEOUT_S", "LATENCY_WINDOW", "CameraSnapshot", "CameraWorker"]
