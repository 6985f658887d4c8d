"""The camera pipeline of one camera: motion → track → classify (one batched call) → count → health.

:class:`CameraPipeline` is synchronous and single-threaded on purpose: the caller (the daemon, the
``run`` verb, benchmarks) runs it in a worker thread and feeds it frames in order. Everything it
needs is injected: the engine, the manifest, the privacy filter and the clock that times the stages.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aiotwin.bundle import Manifest
from aiotwin.engines.base import Engine
from aiotwin.geometry import Box, Line
from aiotwin.wire import CountEvent, Event, utc_now_iso
from device_runtime.config import CameraConfig
from device_runtime.pipeline.counter import Counts, EventMeta, LineCounter, TrackObservation, empty_counts
from device_runtime.pipeline.crops import TrackClassifier, crop, touches_border
from device_runtime.pipeline.health import HealthMonitor
from device_runtime.pipeline.joint import Counted, JointInference, PseudoLabels
from device_runtime.pipeline.motion import MotionDetector
from device_runtime.pipeline.privacy import PrivacyFilter
from device_runtime.pipeline.tracker import Track, Tracker, coverage

if TYPE_CHECKING:
    from device_runtime.offload.client import Offloader
    from device_runtime.samples import SampleStore

MIN_COUNT_HITS = 8  # frames a track must have had its own blob before its positions count (light flecks)
MAX_MERGED_VISIBLE = 100  # frames a merged track's clamped position still counts (4 s at 25 fps)
CONTAINED_SHARE = 0.6  # a track this much inside an older, bigger track is (for now) part of it
SATELLITE_AREA_RATIO = 6.0  # a track this many times smaller than a neighbour moving with it ...
SATELLITE_REACH = 0.5  # ... within half the neighbour's size of it ...
SATELLITE_SPEED_PX = 1.0  # ... at the same velocity (± this + 15 %) is its light pool or a fragment
STAGES = ("motion", "tracking", "crop_preprocess", "inference", "counting", "health")
HEALTH_SUBSAMPLE = 2  # health checks read every 2nd pixel of the motion stage's grey frame

Frame = npt.NDArray[np.uint8]
Clock = Callable[[], float]


@dataclass(frozen=True)
class TrackView:
    """A read-only snapshot of one track for callers (overlays, metrics, tests)."""

    id: int
    box: Box
    state: str
    confirmed: bool
    cls: str | None
    confidence: float


@dataclass(frozen=True)
class FrameResult:
    """What one frame produced.

    ``predictions``: the edge model's answer for each crop it classified this frame (top class
    index, its probability), by ``model_version`` (what drift detection watches).
    """

    index: int
    events: list[Event]
    tracks: list[TrackView]
    detections: list[Box]
    timings_ms: dict[str, float] = field(default_factory=dict)
    classified: int = 0
    predictions: list[tuple[int, float]] = field(default_factory=list)
    model_version: int = 0


def inside_another(track: Track, others: list[Track]) -> bool:
    """True when ``track`` lies mostly inside an older, bigger track (a fragment, or hidden behind it)."""
    area = (track.box[2] - track.box[0]) * (track.box[3] - track.box[1])
    return any(
        o is not track and o.age > track.age
        and (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) > area
        and coverage(track.box, o.box) >= CONTAINED_SHARE
        for o in others
    )


def _near(small: Box, big: Box, reach: float) -> bool:
    w, h = big[2] - big[0], big[3] - big[1]
    grown = (big[0] - reach * w, big[1] - reach * h, big[2] + reach * w, big[3] + reach * h)
    return coverage(small, grown) > 0.0


def satellite_of(track: Track, others: list[Track]) -> bool:
    """True when ``track`` is a small blob travelling with a much bigger track no younger (headlight pool)."""
    area = (track.box[2] - track.box[0]) * (track.box[3] - track.box[1])
    for o in others:
        if o is track or o.age < track.age:
            continue
        if (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) < SATELLITE_AREA_RATIO * area:
            continue
        tol = SATELLITE_SPEED_PX + 0.15 * math.hypot(o.vx, o.vy)
        if math.hypot(track.vx - o.vx, track.vy - o.vy) <= tol and _near(track.box, o.box, SATELLITE_REACH):
            return True
    return False


def countable(track: Track, confirmed: list[Track]) -> bool:
    """Whether this frame's position of ``track`` may move it across the line (see docs/pipeline.md)."""
    if track.hits < MIN_COUNT_HITS:
        return False
    if track.state == "coasting" or (track.state == "merged" and track.merged_frames > MAX_MERGED_VISIBLE):
        return False
    return not inside_another(track, confirmed) and not satellite_of(track, confirmed)


def default_line(width: int, height: int) -> Line:
    """The counting line when the camera config has none: horizontal, at mid-height."""
    return (0.0, height / 2.0, float(width), height / 2.0)


def iso_ts(ts: float | None) -> str:
    if ts is None:
        return utc_now_iso()
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Stopwatch:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.ms: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._t = clock()

    def lap(self, stage: str) -> None:
        now = self.clock()
        self.ms[stage] += (now - self._t) * 1000.0
        self._t = now


class CameraPipeline:
    """Frames in, events out; cumulative ``counts`` for every class of the model."""

    def __init__(
        self, cam: CameraConfig, engine: Engine, manifest: Manifest, *,
        privacy: PrivacyFilter | None = None, clock: Clock = time.perf_counter,
        offload: Offloader | None = None, samples: SampleStore | None = None,
        pseudo_labels: PseudoLabels | None = None,
    ) -> None:
        self.cam = cam
        self.engine = engine
        self.manifest = manifest
        self.privacy = privacy
        self.clock = clock
        self.labels = manifest.labels
        self.motion = MotionDetector(cam.motion, roi=cam.roi, mask_zones=cam.mask_zones)
        self.tracker = Tracker(cam.tracker)
        self.classifier = TrackClassifier(cam.classify, manifest.input, len(manifest.labels))
        self.health = HealthMonitor(cam.health, cam.id)
        self.counter: LineCounter | None = None
        self.frames = 0
        self.joint = (JointInference(cam.id, offload, samples, pseudo=pseudo_labels)
                      if offload is not None or samples is not None else None)

    @property
    def counts(self) -> Counts:
        """``{cls: {"in": n, "out": n}}`` for every class, counted so far."""
        return self.counter.counts if self.counter else empty_counts(self.labels)

    @property
    def line(self) -> Line | None:
        return self.counter.line if self.counter else self.cam.line

    def process(self, frame_bgr: Frame, ts: float | None = None) -> FrameResult:
        """Run every stage on one BGR frame (``ts``: capture time, seconds since the epoch)."""
        watch, stamp = _Stopwatch(self.clock), iso_ts(ts)
        self._ensure_counter(frame_bgr)
        dets = self.motion.detect(frame_bgr)
        watch.lap("motion")
        tracks = self.tracker.update(dets)
        watch.lap("tracking")
        predictions = self._classify(frame_bgr, tracks, dets, watch)
        counted = self._count(tracks, stamp)
        self._pseudo_label(frame_bgr, tracks, dets, counted)
        watch.lap("counting")
        events: list[Event] = [*counted, *self._health(stamp)]
        watch.lap("health")
        self.frames += 1
        views = [self._view(t) for t in tracks]
        return FrameResult(self.frames - 1, events, views, list(dets), watch.ms, len(predictions), predictions,
                           self.manifest.version)

    def finish(self, ts: float | None = None) -> list[Event]:
        """End of stream: count tracks already confirmed across the line; drop the unconfirmed."""
        if self.counter is None:
            return []
        return list(self.counter.finish(iso_ts(ts)))

    @property
    def model_version(self) -> int:
        return self.manifest.version

    def use_manifest(self, manifest: Manifest) -> None:
        """After a hot swap (same labels and input): events from now on name ``manifest``'s version."""
        self.manifest = manifest
        if self.counter is not None:
            self.counter.meta = replace(self.counter.meta, model_version=manifest.version, variant=self.engine.variant)

    def export_crop(self, frame_bgr: Frame, box: Box) -> Frame | None:
        """A crop fit to leave the node (privacy-filtered), or None when it must not leave."""
        if self.privacy is None:
            return None
        image = crop(frame_bgr, box, self.cam.classify.padding)
        return None if image is None else self.privacy.release(image, origin=box[:2])

    # -- stages ------------------------------------------------------------------------------------

    def _ensure_counter(self, frame: Frame) -> None:
        if self.counter is not None:
            return
        h, w = frame.shape[:2]
        self.tracker.frame_size = (w, h)
        line = self.cam.line if self.cam.line is not None else default_line(w, h)
        meta = EventMeta(self.cam.id, self.cam.line_id, self.manifest.version, self.engine.variant)
        self.counter = LineCounter(line, self.cam.counting, meta, self.labels, self.cam.lanes)

    def _classify(self, frame: Frame, tracks: list[Track], dets: list[Box],
                  watch: _Stopwatch) -> list[tuple[int, float]]:
        if self.joint is not None:
            self.joint.collect(self.classifier, self.labels)
        batch = self.classifier.prepare(frame, tracks, dets, self.frames)
        watch.lap("crop_preprocess")
        predictions: list[tuple[int, float]] = []
        if batch.batch is not None:
            probs = self.engine.classify(batch.batch)
            self.classifier.apply(batch, probs, self.frames)
            predictions = [(int(i), float(p)) for i, p in zip(probs.argmax(axis=1), probs.max(axis=1), strict=True)]
        live = {t.id for t in tracks}
        self.classifier.forget(live)
        watch.lap("inference")
        if self.joint is not None and batch.track_ids:
            boxes = {t.id: dets[t.det] for t in tracks if t.det is not None}
            self.joint.consider(self, frame, [(tid, boxes[tid]) for tid in batch.track_ids if tid in boxes],
                                self.classifier, self.labels)
        if self.joint is not None:
            self.joint.forget(live)
        return predictions

    def _pseudo_label(self, frame: Frame, tracks: list[Track], dets: list[Box], counted: list[CountEvent]) -> None:
        """Offer the edge-labelled tracks counted this frame, seen clear of the border, as pseudo-labels."""
        if self.joint is None or not counted:
            return
        h, w = frame.shape[:2]
        boxes = {t.id: dets[t.det] for t in tracks if t.det is not None and t.state == "observed"}
        offer: list[Counted] = [(e.track_id, boxes[e.track_id], e.cls, e.confidence) for e in counted
                                if e.model == "edge" and e.track_id in boxes
                                and not touches_border(boxes[e.track_id], w, h)]
        self.joint.pseudo_label(self, frame, offer)

    def _count(self, tracks: list[Track], stamp: str) -> list[CountEvent]:
        assert self.counter is not None
        confirmed = [t for t in tracks if t.confirmed]
        obs = []
        for t in confirmed:
            label = self.classifier.label(t.id)
            cls, conf = (self.labels[label[0]], label[1]) if label else (None, 0.0)
            size = max(t.box[2] - t.box[0], t.box[3] - t.box[1])
            remote = self.classifier.remote_version(t.id)
            obs.append(TrackObservation(t.id, t.center, countable(t, confirmed), cls, conf, size,
                                        "edge" if remote is None else "offload", remote))
        return list(self.counter.update(obs, stamp))

    def _health(self, stamp: str) -> list[Event]:
        grey = self.motion.grey
        if grey is None:
            return []
        return list(self.health.update(grey[::HEALTH_SUBSAMPLE, ::HEALTH_SUBSAMPLE], stamp))

    def _view(self, t: Track) -> TrackView:
        label = self.classifier.label(t.id)
        cls, conf = (self.labels[label[0]], label[1]) if label else (None, 0.0)
        return TrackView(t.id, t.box, t.state, t.confirmed, cls, conf)


__all__ = ["STAGES", "CameraPipeline", "FrameResult", "TrackView", "default_line", "iso_ts"]
