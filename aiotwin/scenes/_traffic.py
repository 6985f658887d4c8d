"""Traffic: Poisson spawning off-screen, car-following (IDM) per lane, stop-and-go, despawning.

Positions are kept as *progress* ``p = direction * x`` so every lane runs toward larger ``p``.
Actors spawn just outside the lane's visible extent and despawn once wholly past its far end, so
every actor that lives long enough enters the frame, crosses the counting line and leaves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from aiotwin.labels import CLASSES
from aiotwin.scenes._road import PinholeCamera, lane_extent, line_x
from aiotwin.scenes._vehicles import Dims, build_model, draw_dims, gait_m

if TYPE_CHECKING:
    from aiotwin.scenes._models import Model
    from aiotwin.scenes._spec import CameraSpec, LaneSpec

KMH = 1.0 / 3.6
SPAWN_MARGIN_M = 1.5
MAX_PENDING_PER_LANE = 2
# Per-class speed caps (km/h) and factors on the lane's range.
SPEED_CAP_KMH: dict[str, tuple[float, float]] = {"bicycle": (11.0, 24.0), "pedestrian": (3.6, 6.3)}
SPEED_FACTOR: dict[str, float] = {"bus": 0.9, "truck": 0.88}
# Intelligent Driver Model parameters (Treiber et al. 2000): a_max m/s², b m/s², headway s, min gap m.
IDM: dict[str, tuple[float, float, float, float]] = {
    "car": (2.0, 3.0, 1.3, 2.0), "bus": (1.2, 2.5, 1.6, 2.5), "truck": (1.0, 2.5, 1.7, 2.5),
    "motorcycle": (2.5, 3.5, 1.1, 1.5), "bicycle": (1.0, 2.0, 1.0, 1.2), "pedestrian": (0.8, 1.5, 0.6, 0.7),
}
IDM_DELTA = 4.0
MAX_BRAKE = 9.0
LATERAL_JITTER_M: dict[str, float] = {"pedestrian": 0.4, "bicycle": 0.2}
DEFAULT_JITTER_M = 0.15
# Where a stop-and-go vehicle's front halts, relative to the counting line: sometimes with its
# centre right on the line. Buses and trucks never start a halt (they only queue behind one): a
# standing tall vehicle would hide the lanes behind it for seconds.
STOP_FRONT_M = (-8.0, 2.5)
STOP_CLASSES = frozenset({"car", "motorcycle", "bicycle"})
STOPPED_MS = 0.15


@dataclass
class Actor:
    """One road user; its look (``model``) is built on first use from ``look_seed``.

    Actors that come and go before anything is drawn (during a warm-up) cost no model building.
    """

    track_id: int
    cls: str
    lane: LaneSpec
    dims: Dims  # length, width, height (metres)
    look_seed: int
    p: float  # progress along the lane (metres)
    y: float  # lateral position (metres)
    v: float  # speed (m/s)
    v0: float  # desired speed (m/s)
    stop_at: float | None = None  # progress where it will halt for ``dwell`` seconds
    dwell: float = 0.0
    phase: float = 0.0
    _model: Model | None = field(default=None, repr=False, compare=False)

    @property
    def model(self) -> Model:
        if self._model is None:
            self._model = build_model(self.cls, np.random.default_rng(self.look_seed), self.dims)
        return self._model

    @property
    def length(self) -> float:
        return self.dims[0]

    @property
    def x(self) -> float:
        return self.lane.direction * self.p

    @property
    def direction(self) -> int:
        return self.lane.direction


@dataclass(frozen=True)
class LanePath:
    lane: LaneSpec
    p_in: float  # progress where the lane enters the view
    p_out: float  # progress where it leaves it
    p_line: float  # progress of the counting line


_PATHS: dict[tuple[Any, ...], list[LanePath]] = {}
PATHS_CACHE_SIZE = 64


def lane_paths(spec: CameraSpec, cam: PinholeCamera) -> list[LanePath]:
    """Where each lane enters and leaves the view (cached: it depends on the geometry only)."""
    key = (spec.width, spec.height, spec.camera, spec.lanes, spec.line)
    if key not in _PATHS:
        if len(_PATHS) >= PATHS_CACHE_SIZE:
            _PATHS.clear()
        _PATHS[key] = _lane_paths(spec, cam)
    return _PATHS[key]


def _lane_paths(spec: CameraSpec, cam: PinholeCamera) -> list[LanePath]:
    x0 = line_x(spec)
    paths = []
    for lane in spec.lanes:
        extent = lane_extent(cam, lane.offset_m, spec.camera.view_distance_m, x0)
        lo, hi = extent if extent is not None else (x0 - 30.0, x0 + 30.0)
        p_in, p_out = (lo, hi) if lane.direction > 0 else (-hi, -lo)
        paths.append(LanePath(lane, p_in, p_out, lane.direction * x0))
    return paths


def _idm(cls: str, v: float, v0: float, gap: float, dv: float) -> float:
    a, b, headway, s0 = IDM[cls]
    s_star = s0 + max(0.0, v * headway + v * dv / (2.0 * math.sqrt(a * b)))
    acc = a * (1.0 - (v / max(v0, 0.1)) ** IDM_DELTA - (s_star / max(gap, 0.1)) ** 2)
    return max(-MAX_BRAKE, float(acc))


class Traffic:
    """All actors of one scene; :meth:`step` advances them by one frame."""

    def __init__(self, spec: CameraSpec, paths: list[LanePath], rng: np.random.Generator) -> None:
        self.spec = spec
        self.paths = paths
        self.rng = rng
        self.dt = 1.0 / spec.fps
        self.actors: list[Actor] = []
        self._pending: dict[str, list[str]] = {p.lane.id: [] for p in paths}
        self._next_id = 1
        shares = spec.mix.shares()
        self._classes = [c for c in CLASSES if shares[c] > 0]
        self._weights = np.array([shares[c] for c in self._classes])

    def step(self) -> None:
        self._arrivals()
        for path in self.paths:
            self._spawn(path)
            self._follow(path)
        self.actors = [a for a in self.actors if not self._gone(a)]

    def _arrivals(self) -> None:
        n = int(self.rng.poisson(self.spec.density / 60.0 * self.dt))
        for _ in range(n):
            cls = self._classes[int(self.rng.choice(len(self._classes), p=self._weights))]
            options = [p for p in self.paths if cls in p.lane.classes]
            path = options[int(self.rng.integers(len(options)))]
            queue = self._pending[path.lane.id]
            if len(queue) < MAX_PENDING_PER_LANE:
                queue.append(cls)

    def _last_in(self, path: LanePath) -> Actor | None:
        lane = [a for a in self.actors if a.lane is path.lane]
        return min(lane, key=lambda a: a.p) if lane else None

    def _spawn(self, path: LanePath) -> None:
        queue = self._pending[path.lane.id]
        if not queue or len(self.actors) >= self.spec.max_objects:
            return
        cls = queue[0]
        dims = draw_dims(cls, self.rng)
        p = path.p_in - dims[0] / 2 - SPAWN_MARGIN_M
        v0 = self._desired_speed(cls, path.lane)
        last = self._last_in(path)
        if last is not None:
            gap = last.p - last.length / 2 - (p + dims[0] / 2)
            if gap < IDM[cls][3] + min(v0, last.v) * IDM[cls][2] * 0.5:
                return
            v0_start = min(v0, last.v + 1.0)
        else:
            v0_start = v0
        queue.pop(0)
        self.actors.append(self._new_actor(cls, path, dims, p, speeds=(v0, v0_start)))

    def _new_actor(self, cls: str, path: LanePath, dims: Dims, p: float, *, speeds: tuple[float, float]) -> Actor:
        v0, v = speeds
        jitter = LATERAL_JITTER_M.get(cls, DEFAULT_JITTER_M)
        room = max(0.0, (path.lane.width_m - dims[1]) / 2)
        y = path.lane.offset_m + float(self.rng.uniform(-1.0, 1.0)) * min(jitter, room)
        look_seed = int(self.rng.integers(2**63))
        actor = Actor(self._next_id, cls, path.lane, dims, look_seed, p, y, v, v0,
                      phase=float(self.rng.uniform(0, 6.3)))
        self._next_id += 1
        if cls in STOP_CLASSES and self.rng.random() < self.spec.stop_and_go:
            actor.stop_at = path.p_line + float(self.rng.uniform(*STOP_FRONT_M)) - dims[0] / 2
            actor.dwell = float(self.rng.uniform(*self.spec.stop_s))
        return actor

    def _desired_speed(self, cls: str, lane: LaneSpec) -> float:
        lo, hi = lane.speed_kmh
        if cls in SPEED_CAP_KMH:
            cap_lo, cap_hi = SPEED_CAP_KMH[cls]
            lo, hi = min(max(lo, cap_lo), cap_hi), min(hi, cap_hi)
        kmh = float(self.rng.uniform(lo, max(lo, hi))) * SPEED_FACTOR.get(cls, 1.0)
        return kmh * KMH

    def _follow(self, path: LanePath) -> None:
        lane = sorted((a for a in self.actors if a.lane is path.lane), key=lambda a: -a.p)
        leader: Actor | None = None
        for actor in lane:
            gap, dv = math.inf, 0.0
            if leader is not None:
                gap = leader.p - actor.p - (leader.length + actor.length) / 2
                dv = actor.v - leader.v
            gap, dv = self._stop_gap(actor, gap, dv)
            acc = _idm(actor.cls, actor.v, actor.v0, gap, dv)
            actor.v = max(0.0, actor.v + acc * self.dt)
            actor.p += actor.v * self.dt
            if leader is not None:
                limit = leader.p - (leader.length + actor.length) / 2 - 0.3
                if actor.p > limit:
                    actor.p, actor.v = limit, min(actor.v, leader.v)
            gait = gait_m(actor.cls, actor.dims)
            if gait > 0:
                actor.phase += 2.0 * math.pi * actor.v * self.dt / gait
            leader = actor

    def _stop_gap(self, actor: Actor, gap: float, dv: float) -> tuple[float, float]:
        """Fold a pending stop into the leader gap (a virtual standing obstacle at the stop point)."""
        if actor.stop_at is None:
            return gap, dv
        s0 = IDM[actor.cls][3]
        stop_gap = actor.stop_at + s0 - actor.p
        if actor.v < STOPPED_MS and stop_gap < s0 + 1.0:
            actor.dwell -= self.dt
            if actor.dwell <= 0:
                actor.stop_at = None
                return gap, dv
        if stop_gap < gap:
            return stop_gap, actor.v
        return gap, dv

    def _gone(self, actor: Actor) -> bool:
        path = next(p for p in self.paths if p.lane is actor.lane)
        return actor.p - actor.length / 2 > path.p_out + SPAWN_MARGIN_M


__all__ = ["Actor", "LanePath", "Traffic", "lane_paths"]
