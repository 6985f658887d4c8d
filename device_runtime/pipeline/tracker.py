"""Pure multi-object tracker for motion blobs (no OpenCV, no clock: one call per frame).

Each track keeps a box and a constant-velocity estimate (an alpha-beta filter on the box centre,
pixels per frame). Every frame:

1. every track predicts its box one frame ahead;
2. detections and predictions are paired greedily by a score that mixes IoU and centre distance
   (confirmed tracks first, so a tentative track never steals a confirmed track's blob);
3. **merges**: a blob that covers the predictions of several tracks (two cars side by side) is given
   to none of them (tracks mostly inside another one, such as a car hidden behind a bus, do not
   count here: the bus keeps its blob); the tracks left without a blob are *merged*: they keep
   their own size and predicted motion, clamped inside the blob, and do not age. A merged track
   swallowed by an older one for longer than :data:`ABSORB_FRAMES` is dropped (a fragment of the
   bigger vehicle, not a vehicle of its own). A blob much bigger than the tracks merged into it
   also starts a new track (a vehicle that first showed as a fragment);
4. **splits**: a blob piece that matches no track becomes a new tentative track, which needs
   ``min_hits`` consecutive hits to be confirmed;
5. unmatched tracks coast on their prediction for up to ``max_missed_frames`` frames (occlusion).

**Direction consistency.** Road users do not reverse. A track that has moved consistently gets a
*heading* (the direction of a slowly filtered velocity, measured on boxes not clipped by the frame
edge; it may turn but never reverse, and it is kept while the vehicle stops) and remembers its
*peak*, the centre furthest along the heading so far. A blob whose centre lies further behind the
peak than the blob can jitter (:data:`REVERSE_MIN_PX`, or :data:`REVERSE_SHARE` of the track's
length) is not that track's: neither paired with it nor holding it as a merged track. This keeps
identities where a vehicle enters at the edge where another one just left, and where vehicles pass
each other (or a stopped one) in opposite directions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from aiotwin.geometry import Box, iou
from device_runtime.config import TrackerConfig
from device_runtime.pipeline.boxes import center, clamp_into, coverage, extent_along, from_center, size

ALPHA = 0.75  # weight of the measured centre against the prediction
BETA = 0.3  # weight of the residual in the velocity update
SIZE_ALPHA = 0.5  # weight of the measured size
GATE_FACTOR = 0.5  # centre distance gate, in units of the smaller side of the predicted box
MIN_GATE_PX = 24.0  # centre distance gate floor (small, slow objects)
DIST_WEIGHT = 0.5  # weight of closeness (1 - d/gate) against IoU in the pairing score
CONFIRMED_BONUS = 1.0  # confirmed tracks are paired before tentative ones
MERGE_COVERAGE = 0.5  # share of a prediction inside a blob for the track to be "in" that blob
ABSORB_CONTAINMENT = 0.8  # share of a merged track inside another track: candidate fragment
ABSORB_FRAMES = 150  # a merged track inside an older one for longer (6 s at 25 fps) is a fragment
SPAWN_OVER_MERGED = 2.5  # a blob this much bigger than the tracks merged into it holds a new object too
GATE_GROWTH = 0.05  # the distance gate widens by this share per frame a track has coasted
TENTATIVE_MAX_MISSED = 1  # a tentative track missed this often is dropped
HEADING_RATE = 0.1  # weight of the filtered velocity in the slow velocity that gives a track its heading
HEADING_MIN_SPEED = 0.8  # px/frame: a slower slow velocity leaves the heading as it was (a stopped vehicle)
HEADING_MIN_HITS = 5  # own-blob sightings before a track has a heading
REVERSE_MIN_PX = 8.0  # a blob may lie this far behind a track's furthest point along its heading ...
REVERSE_SHARE = 0.25  # ... or this share of the track's length along its heading (box changes, merges)
BORDER_PX = 2.0  # a box this close to the frame edge is clipped by it (its velocity is not the object's)


@dataclass
class Track:
    """One tracked object. ``box`` is the current estimate; ``det`` the detection it got, if any."""

    id: int
    box: Box
    vx: float = 0.0
    vy: float = 0.0
    hits: int = 1
    age: int = 1
    missed: int = 0
    merged_frames: int = 0
    absorbed_frames: int = 0
    confirmed: bool = False
    state: str = "observed"  # observed | merged | coasting
    det: int | None = None
    slow_vx: float = 0.0  # slowly filtered velocity: the track's heading once it is fast enough
    slow_vy: float = 0.0
    heading: tuple[float, float] | None = None  # unit vector of travel; kept while the vehicle stops
    peak: tuple[float, float] | None = None  # the centre furthest along the heading so far

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)

    @property
    def visible(self) -> bool:
        """True when the box comes from this frame's blobs (observed or merged), not pure coasting."""
        return self.state != "coasting"


def pair_score(pred: Box, det: Box, iou_threshold: float, missed: int = 0) -> float:
    """Pairing score of a prediction and a detection; 0 when they cannot be the same object."""
    overlap = iou(pred, det)
    (px, py), (dx, dy) = center(pred), center(det)
    gate = max(MIN_GATE_PX, GATE_FACTOR * min(size(pred))) * (1.0 + GATE_GROWTH * missed)
    dist = math.hypot(px - dx, py - dy)
    if overlap < iou_threshold and dist > gate:
        return 0.0
    return overlap + DIST_WEIGHT * max(0.0, 1.0 - dist / gate)


def backward_px(track: Track, point: tuple[float, float]) -> float:
    """How far ``point`` lies behind the furthest centre of ``track`` along its heading (0: not behind)."""
    if track.heading is None or track.peak is None:
        return 0.0
    (hx, hy), (px, py) = track.heading, track.peak
    return max(0.0, -((point[0] - px) * hx + (point[1] - py) * hy))


def moves_backward(track: Track, box: Box) -> bool:
    """True when ``box`` would take ``track`` further back against its heading than its blob can jitter.

    Road users do not reverse: a blob well behind the furthest point a track has reached belongs to
    another object (one entering where this one left, one passing it in the other direction).
    """
    if track.heading is None:
        return False
    tolerance = max(REVERSE_MIN_PX, REVERSE_SHARE * extent_along(track.box, track.heading))
    return backward_px(track, center(box)) > tolerance


def greedy_pairs(scores: dict[tuple[int, int], float]) -> dict[int, int]:
    """Greedy one-to-one assignment (track index → detection index), best score first."""
    pairs: dict[int, int] = {}
    used: set[int] = set()
    for (ti, di), _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
        if ti not in pairs and di not in used:
            pairs[ti] = di
            used.add(di)
    return pairs


class Tracker:
    """Greedy IoU + distance tracker with constant-velocity coasting and merge handling."""

    def __init__(self, cfg: TrackerConfig, frame_size: tuple[int, int] | None = None) -> None:
        self.cfg = cfg
        self.frame_size = frame_size  # (width, height): tracks that coast out of it are dropped
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def update(self, detections: Sequence[Box]) -> list[Track]:
        """Advance one frame with this frame's blobs; return the live tracks (tentative included)."""
        preds = [self._predict(t) for t in self.tracks]
        covers = self._covers(preds, detections)
        pairs = self._pair(preds, detections)
        self._release_shared_blobs(pairs, preds, detections, covers)
        for ti, track in enumerate(self.tracks):
            if ti in pairs:
                self._observe(track, preds[ti], detections[pairs[ti]], pairs[ti])
            else:
                self._unmatched(track, preds[ti], detections, covers.get(ti, []))
        self._absorb_fragments()
        self._spawn(detections, set(pairs.values()), self._occupied(preds, pairs, covers))
        self.tracks = [t for t in self.tracks if self._alive(t)]
        return list(self.tracks)

    # -- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _predict(track: Track) -> Box:
        cx, cy = track.center
        w, h = size(track.box)
        return from_center(cx + track.vx, cy + track.vy, w, h)

    def _covers(self, preds: Sequence[Box], dets: Sequence[Box]) -> dict[int, list[int]]:
        """Track index → detections that contain at least MERGE_COVERAGE of its prediction.

        A blob that would drag the track backwards (see :func:`moves_backward`) does not hold it.
        """
        out: dict[int, list[int]] = {}
        for ti, pred in enumerate(preds):
            track = self.tracks[ti]
            hits = [
                di for di, det in enumerate(dets)
                if coverage(pred, det) >= MERGE_COVERAGE and not moves_backward(track, clamp_into(pred, det))
            ]
            if hits:
                out[ti] = hits
        return out

    def _pair(self, preds: Sequence[Box], dets: Sequence[Box]) -> dict[int, int]:
        scores: dict[tuple[int, int], float] = {}
        for ti, pred in enumerate(preds):
            track = self.tracks[ti]
            bonus = CONFIRMED_BONUS if track.confirmed else 0.0
            for di, det in enumerate(dets):
                s = pair_score(pred, det, self.cfg.iou_threshold, track.missed)
                if s > 0.0 and not moves_backward(track, det):
                    scores[(ti, di)] = s + bonus
        return greedy_pairs(scores)

    def _release_shared_blobs(
        self, pairs: dict[int, int], preds: Sequence[Box], dets: Sequence[Box], covers: dict[int, list[int]]
    ) -> None:
        """A blob covering several confirmed tracks (not counting ones hidden inside another) is nobody's."""
        sharers: dict[int, list[int]] = {}
        for ti, dis in covers.items():
            if self.tracks[ti].confirmed:
                for di in dis:
                    sharers.setdefault(di, []).append(ti)
        for di, tis in sharers.items():
            if self._distinct(tis, preds) >= 2:
                for ti in [t for t, d in pairs.items() if d == di]:
                    del pairs[ti]

    @staticmethod
    def _distinct(tis: list[int], preds: Sequence[Box]) -> int:
        """How many of the tracks ``tis`` are not mostly inside another one of them (hidden, fragments)."""
        return sum(
            not any(o != ti and coverage(preds[ti], preds[o]) >= ABSORB_CONTAINMENT for o in tis)
            for ti in tis
        )

    def _observe(self, track: Track, pred: Box, det: Box, di: int) -> None:
        (px, py), (mx, my) = center(pred), center(det)
        if track.hits == 1 and track.age == 1:
            track.vx, track.vy = mx - track.center[0], my - track.center[1]
        else:
            track.vx += BETA * (mx - px)
            track.vy += BETA * (my - py)
        (pw, ph), (mw, mh) = size(pred), size(det)
        w, h = pw + SIZE_ALPHA * (mw - pw), ph + SIZE_ALPHA * (mh - ph)
        track.box = from_center(px + ALPHA * (mx - px), py + ALPHA * (my - py), w, h)
        track.hits += 1
        track.age += 1
        track.missed = 0
        track.merged_frames = 0
        track.state, track.det = "observed", di
        track.confirmed = track.confirmed or track.hits >= self.cfg.min_hits
        self._update_heading(track)

    def _update_heading(self, track: Track) -> None:
        """Slow velocity → heading (not from boxes clipped by the frame edge, never reversed); advance the peak."""
        if not self._at_border(track.box):
            track.slow_vx += HEADING_RATE * (track.vx - track.slow_vx)
            track.slow_vy += HEADING_RATE * (track.vy - track.slow_vy)
            speed = math.hypot(track.slow_vx, track.slow_vy)
            if speed >= HEADING_MIN_SPEED and track.hits >= HEADING_MIN_HITS and not self._reverses(track):
                track.heading = (track.slow_vx / speed, track.slow_vy / speed)
        if track.heading is None:
            return
        (hx, hy), (cx, cy) = track.heading, track.center
        if track.peak is None or (cx - track.peak[0]) * hx + (cy - track.peak[1]) * hy > 0.0:
            track.peak = (cx, cy)

    def _unmatched(self, track: Track, pred: Box, dets: Sequence[Box], covering: list[int]) -> None:
        track.age += 1
        track.det = None
        if track.confirmed and covering:
            blob = max(covering, key=lambda di: coverage(pred, dets[di]))
            track.box = clamp_into(pred, dets[blob])
            track.state = "merged"
            track.merged_frames += 1
        else:
            track.box = pred
            track.state = "coasting"
            track.missed += 1

    def _absorb_fragments(self) -> None:
        """Count frames a merged track sits inside another track; past the limit it is a fragment."""
        for track in self.tracks:
            if track.state != "merged":
                track.absorbed_frames = 0
                continue
            inside = any(
                other is not track and other.age > track.age
                and coverage(track.box, other.box) >= ABSORB_CONTAINMENT
                for other in self.tracks
            )
            track.absorbed_frames = track.absorbed_frames + 1 if inside else 0

    @staticmethod
    def _occupied(preds: Sequence[Box], pairs: dict[int, int], covers: dict[int, list[int]]) -> dict[int, float]:
        """Detection index → summed area of the predictions it covers of tracks not paired with it."""
        out: dict[int, float] = {}
        for ti, dis in covers.items():
            w, h = size(preds[ti])
            for di in dis:
                if pairs.get(ti) != di:
                    out[di] = out.get(di, 0.0) + w * h
        return out

    def _spawn(self, dets: Sequence[Box], paired: set[int], occupied: dict[int, float]) -> None:
        """New tentative tracks: unpaired blobs not explained by the tracks merged into them."""
        for di, det in enumerate(dets):
            w, h = size(det)
            if di in paired or w * h <= SPAWN_OVER_MERGED * occupied.get(di, 0.0):
                continue
            track = Track(id=next(self._ids), box=det, det=di, confirmed=self.cfg.min_hits <= 1)
            self.tracks.append(track)

    def _alive(self, track: Track) -> bool:
        if track.absorbed_frames > ABSORB_FRAMES:
            return False
        limit = self.cfg.max_missed_frames if track.confirmed else TENTATIVE_MAX_MISSED
        if track.missed > limit:
            return False
        return not self._outside(track.box)

    @staticmethod
    def _reverses(track: Track) -> bool:
        """True when the slow velocity points backwards: the heading may turn, never reverse."""
        if track.heading is None:
            return False
        return track.slow_vx * track.heading[0] + track.slow_vy * track.heading[1] < 0.0

    def _at_border(self, box: Box) -> bool:
        if self.frame_size is None:
            return False
        w, h = self.frame_size
        return box[0] <= BORDER_PX or box[1] <= BORDER_PX or box[2] >= w - BORDER_PX or box[3] >= h - BORDER_PX

    def _outside(self, box: Box) -> bool:
        if self.frame_size is None:
            return False
        w, h = self.frame_size
        return box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h


__all__ = ["Track", "Tracker", "backward_px", "coverage", "greedy_pairs", "moves_backward", "pair_score"]
