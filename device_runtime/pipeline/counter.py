"""Pure line-crossing counter (one line, many tracks) with the usual failure modes fixed.

Conventions come from :mod:`aiotwin.geometry` (the ground truth uses the same ones): the anchor is
the box centre, the side is the sign of :func:`~aiotwin.geometry.side_of_line`, positive → negative
is ``"in"``.

- A track counts **once per direction and passage**: after a count it may count again only in the
  opposite direction, and only once its anchor has gone :func:`rearm_distance` beyond the line
  (a real second passage, such as a tracker id re-used by a vehicle entering where another left);
  reversing, flicker, stop-and-go or a new box on the line never count twice.
- A crossing counts only after the anchor has stayed on the new side for ``confirm_frames``
  consecutive *visible* frames (box flicker across the line and stop-and-go on it never count twice
  and never count before the vehicle has really passed). Frames where the track only coasts on its
  prediction neither confirm nor cancel a pending crossing. A track that disappears (leaves the
  picture) while past the line confirms its pending crossing; the end of the stream does not.
- The crossing point is where the anchor's path meets the line; it must lie within the segment
  extended by ``line_margin_px`` at both ends.
- The lane is the configured lane polygon containing the crossing point (else the first anchor on
  the new side); ``None`` when no lane contains it.
- The class is the track's voted class when the crossing is confirmed; a track without a class yet
  has its count held until it gets one (or until it disappears / the stream ends: then it counts
  with :data:`FALLBACK_CONFIDENCE` and the first label).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from aiotwin.geometry import Direction, Line, crossing_direction, side_of_line, within_segment
from aiotwin.wire import CountEvent
from device_runtime.config import CountingConfig, Zone

FALLBACK_CONFIDENCE = 0.0  # a count whose track never got a class (should not happen in the pipeline)
REARM_MIN_PX = 100.0  # a counted track must get this far past the line before it may count back ...
REARM_SIZES = 1.5  # ... and this many times its own length (box's longer side)

Point = tuple[float, float]
Counts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class TrackObservation:
    """What the counter needs to know about one live track this frame."""

    track_id: int
    anchor: Point
    visible: bool = True  # False: the tracker only predicted this position
    cls: str | None = None
    confidence: float = 0.0
    size: float = 0.0  # the box's longer side (px): how far past the line re-arms the track
    model: Literal["edge", "offload"] = "edge"  # which model's answer ``cls`` is
    model_version: int | None = None  # of an offload answer (None: the counter's own model)


@dataclass(frozen=True)
class EventMeta:
    """Fields of every count event of one counter."""

    camera_id: str
    line_id: str
    model_version: int
    variant: str


@dataclass(frozen=True)
class Crossing:
    """A confirmed crossing of one track, waiting for its class if it has none yet."""

    track_id: int
    direction: Direction
    lane: str | None


@dataclass
class _TrackLine:
    side: int = 0
    last: Point | None = None
    pending_frames: int = 0
    pending_point: Point | None = None
    pending_first: Point | None = None
    pending_dir: Direction | None = None
    counted: Direction | None = None  # the direction of the last count
    rearmed: bool = False  # went rearm_distance past the line since: may count the other way
    size: float = 0.0
    cls: str | None = None
    confidence: float = 0.0
    model: Literal["edge", "offload"] = "edge"
    model_version: int | None = None


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def point_in_polygon(pt: Point, polygon: Sequence[tuple[float, float]]) -> bool:
    """Even-odd ray casting; points on an edge may go either way."""
    x, y = pt
    inside = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def line_intersection(line: Line, a: Point, b: Point) -> Point:
    """Where segment a→b meets the (infinite) line; ``b`` when they are parallel."""
    sa, sb = side_of_line(line, a), side_of_line(line, b)
    if sa == sb:
        return b
    t = sa / (sa - sb)
    return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))


def lane_of(points: Iterable[Point], lanes: Sequence[Zone]) -> str | None:
    for pt in points:
        for lane in lanes:
            if point_in_polygon(pt, lane.polygon):
                return lane.id
    return None


def rearm_distance(size: float) -> float:
    """How far past the line (px) a counted track of this size must go before it may count back."""
    return max(REARM_MIN_PX, REARM_SIZES * size)


def empty_counts(classes: Iterable[str]) -> Counts:
    return {cls: {"in": 0, "out": 0} for cls in classes}


class LineCounter:
    """Counts confirmed crossings of one line and builds :class:`~aiotwin.wire.CountEvent` s."""

    def __init__(
        self, line: Line, cfg: CountingConfig, meta: EventMeta, classes: Sequence[str],
        lanes: Sequence[Zone] = (),
    ) -> None:
        self.line = line
        self.cfg = cfg
        self.meta = meta
        self.classes = tuple(classes)
        self.lanes = tuple(lanes)
        self.counts: Counts = empty_counts(self.classes)
        self._state: dict[int, _TrackLine] = {}
        self._waiting: dict[int, list[Crossing]] = {}
        self._length = max(1e-9, ((line[2] - line[0]) ** 2 + (line[3] - line[1]) ** 2) ** 0.5)

    def update(self, observations: Iterable[TrackObservation], ts: str) -> list[CountEvent]:
        """Feed this frame's live tracks; tracks missing from ``observations`` are gone."""
        events: list[CountEvent] = []
        seen: set[int] = set()
        for obs in observations:
            seen.add(obs.track_id)
            state = self._state.setdefault(obs.track_id, _TrackLine())
            if obs.cls is not None:
                state.cls, state.confidence = obs.cls, obs.confidence
                state.model, state.model_version = obs.model, obs.model_version
            state.size = obs.size
            if obs.visible:
                self._step(obs.track_id, state, obs.anchor)
            events += self._emit_ready(obs.track_id, state, ts, final=False)
        for tid in [t for t in self._state if t not in seen]:
            state = self._state.pop(tid)
            if state.pending_frames > 0:  # it left the picture past the line: that confirms it
                self._confirm(tid, state)
            events += self._emit_ready(tid, state, ts, final=True)
        return events

    def finish(self, ts: str) -> list[CountEvent]:
        """End of stream: emit every confirmed crossing still waiting; pending ones are dropped."""
        events: list[CountEvent] = []
        for tid, state in list(self._state.items()):
            events += self._emit_ready(tid, state, ts, final=True)
        self._state.clear()
        return events

    # -- per-track state machine -----------------------------------------------------------------

    def _step(self, tid: int, st: _TrackLine, pt: Point) -> None:
        value = side_of_line(self.line, pt)
        s = sign(value)
        if st.side == 0 or s == 0:
            st.side = st.side or s
            st.last = pt if st.pending_frames == 0 else st.last
            return
        if s == st.side:
            st.pending_frames, st.last = 0, pt
            if st.counted is not None and abs(value) / self._length >= rearm_distance(st.size):
                st.rearmed = True
            return
        if st.pending_frames == 0:
            self._start_pending(st, pt)
        st.pending_frames += 1
        if st.pending_frames >= self.cfg.confirm_frames:
            self._confirm(tid, st)

    def _start_pending(self, st: _TrackLine, pt: Point) -> None:
        last = st.last if st.last is not None else pt
        st.pending_point = line_intersection(self.line, last, pt)
        st.pending_first = pt
        st.pending_dir = crossing_direction(side_of_line(self.line, last), side_of_line(self.line, pt))

    def _confirm(self, tid: int, st: _TrackLine) -> None:
        st.side, st.pending_frames = -st.side, 0
        st.last = st.pending_first
        point, direction = st.pending_point, st.pending_dir
        if point is None or direction is None or not self._may_count(st, direction):
            return
        if not within_segment(self.line, point, self.cfg.line_margin_px):
            return
        st.counted, st.rearmed = direction, False
        first = st.pending_first if st.pending_first is not None else point
        self._waiting.setdefault(tid, []).append(Crossing(tid, direction, lane_of((point, first), self.lanes)))

    @staticmethod
    def _may_count(st: _TrackLine, direction: Direction) -> bool:
        return st.counted is None or (st.rearmed and direction != st.counted)

    def _emit_ready(self, tid: int, st: _TrackLine, ts: str, *, final: bool) -> list[CountEvent]:
        crossings = self._waiting.get(tid)
        if not crossings or (st.cls is None and not final):
            return []
        del self._waiting[tid]
        if st.cls is None:
            st = _TrackLine(cls=self.classes[0], confidence=FALLBACK_CONFIDENCE)
        return [self._event(crossing, st, ts) for crossing in crossings]

    def _event(self, crossing: Crossing, st: _TrackLine, ts: str) -> CountEvent:
        assert st.cls is not None
        self.counts.setdefault(st.cls, {"in": 0, "out": 0})[crossing.direction] += 1
        m = self.meta
        offload = st.model == "offload"
        return CountEvent(
            camera_id=m.camera_id, line_id=m.line_id, direction=crossing.direction, cls=st.cls,
            confidence=min(1.0, max(0.0, float(st.confidence))), track_id=crossing.track_id, model=st.model,
            model_version=st.model_version if offload and st.model_version is not None else m.model_version,
            variant="remote" if offload else m.variant, lane=crossing.lane, ts=ts,
        )


__all__ = [
    "FALLBACK_CONFIDENCE", "Counts", "Crossing", "EventMeta", "LineCounter", "TrackObservation",
    "empty_counts", "lane_of", "line_intersection", "point_in_polygon", "rearm_distance", "sign",
]
