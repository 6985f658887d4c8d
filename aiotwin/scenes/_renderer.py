"""The scene renderer: traffic → projection → painter's-order drawing → effects, plus ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from aiotwin.geometry import Box
from aiotwin.scenes._background import Backdrop, backdrop_for
from aiotwin.scenes._draw import Projection, add_glow, draw_model, motion_blur, paste_polygon
from aiotwin.scenes._effects import Effects
from aiotwin.scenes._look import fog_factor, lit_colours, look_for
from aiotwin.scenes._road import NEAR_M, camera_for
from aiotwin.scenes._spec import CameraSpec
from aiotwin.scenes._traffic import Actor, Traffic, lane_paths
from aiotwin.scenes._truth import Crossing, CrossingCounter, FrameTruth, ObjectTruth

U8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]

TRAFFIC_STREAM = 1
VIS_SCALE = 0.5  # the occlusion label buffer is drawn at half resolution
SHADOW_PER_M = (0.35, -0.45)  # ground shadow offset (road x, y) per metre of object height
BEAM_LENGTH_M = 6.0
BEAM_SPREAD = 1.5
MOTORISED = frozenset({"car", "bus", "truck", "motorcycle"})
SHADOW_SOFT_PX = 0  # hard-edged (a soft blend costs ~0.2 ms per object)
BEAM_SOFT = 0.025  # headlight pool edge softness as a fraction of the frame width
GLOW_HEAD = (1.1, (215, 240, 255))  # halo radius (m) and colour of headlights
GLOW_TAIL = (0.6, (50, 40, 255))


@dataclass
class _Pose:
    actor: Actor
    proj: Projection
    box: Box  # unclipped
    clipped: Box | None
    depth: float
    dist: float


def _clip_box(box: Box, width: int, height: int) -> Box | None:
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(width), box[2]), min(float(height), box[3])
    if x2 - x1 <= 0.0 or y2 - y1 <= 0.0:
        return None
    return (round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2))


class SceneRenderer:
    """Renders frames of ``spec`` with ground truth; deterministic by ``(spec, seed)``.

    ``warmup_s`` simulates that many seconds of traffic (without drawing or counting) before frame
    0, so the road starts populated; crossings during the warm-up are not counted.
    """

    def __init__(self, spec: CameraSpec, seed: int = 0, *, warmup_s: float = 0.0) -> None:
        self.spec = spec
        self.seed = seed
        self._cam = camera_for(spec)
        self._look = look_for(spec.lighting, spec.weather)
        self._backdrop: Backdrop | None = None
        self._beam_soft = max(1, round(BEAM_SOFT * spec.width))
        rng = np.random.default_rng([seed, TRAFFIC_STREAM])
        self._traffic = Traffic(spec, lane_paths(spec, self._cam), rng)
        self._effects = Effects(self._look, noise=spec.noise, flicker=spec.flicker, fps=spec.fps, seed=seed,
                                size=(spec.width, spec.height))
        self._counter = CrossingCounter(spec.counting_line.coords)
        self._index = 0
        self._live: set[int] = set()
        for _ in range(round(warmup_s * spec.fps)):
            self._traffic.step()

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Crossings so far per class and direction (every class present, zeros included)."""
        return {cls: dict(d) for cls, d in self._counter.counts.items()}

    @property
    def frame_index(self) -> int:
        """Index of the next frame."""
        return self._index

    def next_frame(self) -> tuple[U8Image, FrameTruth]:
        truth, render = self.next_lazy()
        return render(), truth

    def next_lazy(self) -> tuple[FrameTruth, Callable[[], U8Image]]:
        """Advance one frame; return its truth now and a function that draws it on demand.

        Samplers that only need some frames skip the drawing cost; the frame drawn later is the
        same as :meth:`next_frame` would have returned (call it before advancing again).
        """
        poses, crossings = self._advance()
        index = self._index - 1
        truth = FrameTruth(index, self._objects(poses), crossings)

        def render() -> U8Image:
            return self._effects.apply(self._draw(poses), index)

        return truth, render

    def skip(self, frames: int = 1) -> None:
        """Advance ``frames`` frames without drawing (counts still update)."""
        for _ in range(frames):
            self._advance()

    def _advance(self) -> tuple[list[_Pose], list[Crossing]]:
        self._traffic.step()
        poses = self._poses(self._traffic.actors)
        crossings: list[Crossing] = []
        live: set[int] = set()
        for pose in poses:
            if pose.clipped is None:
                continue
            a = pose.actor
            live.add(a.track_id)
            box = pose.clipped
            hit = self._counter.update(a.track_id, a.cls, ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), a.lane.id)
            if hit is not None:
                crossings.append(hit)
        for gone in self._live - {a.track_id for a in self._traffic.actors}:
            self._counter.forget(gone)
        self._live = live
        self._index += 1
        return poses, crossings

    def _poses(self, actors: list[Actor]) -> list[_Pose]:
        """Project every actor in one batch; actors reaching behind the camera are left out."""
        if not actors:
            return []
        posed = [a.model.posed(a.phase) for a in actors]
        sizes = [len(p) for p in posed]
        pts = np.concatenate(posed)
        d = np.repeat([float(a.direction) for a in actors], sizes)
        origin = np.array([(a.x, a.y, 0.0) for a in actors])
        offset = np.repeat(origin, sizes, axis=0)
        world = np.column_stack((offset[:, 0] + d * pts[:, 0], offset[:, 1] + d * pts[:, 1], pts[:, 2]))
        uv, z = self._cam.project(world)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        lo, hi = np.minimum.reduceat(uv, starts, axis=0), np.maximum.reduceat(uv, starts, axis=0)
        near = np.minimum.reduceat(z, starts)
        rel = origin - self._cam.pos
        depth, dist = rel @ self._cam.rot[2], np.linalg.norm(rel, axis=1)
        out = []
        for i, (actor, start) in enumerate(zip(actors, starts, strict=True)):
            if near[i] < NEAR_M:
                continue
            sl = slice(int(start), int(start) + sizes[i])
            sign = float(actor.direction)
            eye = np.array([-rel[i, 0] * sign, -rel[i, 1] * sign, self._cam.pos[2]])
            box: Box = (float(lo[i, 0]), float(lo[i, 1]), float(hi[i, 0]), float(hi[i, 1]))
            out.append(_Pose(actor, Projection(posed[i], uv[sl], z[sl], eye), box,
                             _clip_box(box, self.spec.width, self.spec.height), float(depth[i]), float(dist[i])))
        return out

    def _draw(self, poses: list[_Pose]) -> U8Image:
        if self._backdrop is None:
            self._backdrop = backdrop_for(self.spec)
        canvas = self._backdrop.image.copy()
        ordered = sorted((p for p in poses if p.clipped is not None), key=lambda p: -p.depth)
        for pose in ordered:
            self._ground_effects(canvas, pose)
        for pose in ordered:
            self._draw_actor(canvas, pose)
        return canvas

    def _ground_effects(self, canvas: U8Image, pose: _Pose) -> None:
        backdrop = self._backdrop
        assert backdrop is not None
        if backdrop.shadow is not None:
            paste_polygon(canvas, backdrop.shadow, self._shadow_hull(pose.actor), SHADOW_SOFT_PX)
        if backdrop.lit is not None:
            beam = self._beam_quad(pose.actor)
            if beam is not None:
                paste_polygon(canvas, backdrop.lit, beam, self._beam_soft)

    def _shadow_hull(self, a: Actor) -> FloatArray:
        """Image polygon of the ground shadow ``a`` casts (drawn when the look has shadows)."""
        m = a.model
        sx, sy = SHADOW_PER_M[0] * m.height, SHADOW_PER_M[1] * m.height
        corners = [(a.x + ex * m.length / 2, a.y + ey * m.width / 2) for ex in (-1, 1) for ey in (-1, 1)]
        ground = np.array([(x + dx, y + dy, 0.0) for x, y in corners for dx, dy in ((0, 0), (sx, sy))])
        hull = cv2.convexHull(self._cam.project(ground)[0].astype(np.float32))
        return np.asarray(hull, dtype=np.float64).reshape(-1, 2)

    def _beam_quad(self, a: Actor) -> FloatArray | None:
        """Image polygon of the headlight pool of a motorised ``a`` (None: not motorised or behind the camera)."""
        if a.cls not in MOTORISED:
            return None
        m = a.model
        d = a.direction
        xf = a.x + d * m.length / 2
        hw = m.width / 2
        quad = np.array([(xf, a.y - hw * 0.8, 0.0), (xf + d * BEAM_LENGTH_M, a.y - hw * BEAM_SPREAD, 0.0),
                         (xf + d * BEAM_LENGTH_M, a.y + hw * BEAM_SPREAD, 0.0), (xf, a.y + hw * 0.8, 0.0)])
        uv, z = self._cam.project(quad)
        return uv if float(z.min()) > NEAR_M else None

    def _motion_box(self, pose: _Pose, clipped: Box) -> Box:
        """``clipped`` grown by the shadow and headlight pool the look draws for this pose."""
        polys = []
        if self._look.shadow > 0:
            polys.append(self._shadow_hull(pose.actor))
        if self._look.beam > 0:
            beam = self._beam_quad(pose.actor)
            if beam is not None:
                polys.append(beam)
        if not polys:
            return clipped
        pts = np.concatenate(polys)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        grown: Box = (min(pose.box[0], float(lo[0])), min(pose.box[1], float(lo[1])),
                      max(pose.box[2], float(hi[0])), max(pose.box[3], float(hi[1])))
        return _clip_box(grown, self.spec.width, self.spec.height) or clipped

    def _draw_actor(self, canvas: U8Image, pose: _Pose) -> None:
        m = pose.actor.model
        colours = lit_colours(self._look, m.colours, m.lights, pose.dist)
        draw_model(canvas, m, pose.proj, colours, self._cam.fpx)
        if self.spec.blur > 0 and pose.actor.v > 0.05:
            du, dv = self._image_motion(pose)
            motion_blur(canvas, pose.box, du, dv, self.spec.blur)
        if self._look.lights_on and pose.actor.cls in MOTORISED:
            self._glows(canvas, pose)

    def _image_motion(self, pose: _Pose) -> tuple[float, float]:
        a = pose.actor
        step = a.direction * a.v / self.spec.fps
        centre = np.array([[a.x, a.y, a.model.height / 2], [a.x - step, a.y, a.model.height / 2]])
        uv = self._cam.project(centre)[0]
        return float(uv[0, 0] - uv[1, 0]), float(uv[0, 1] - uv[1, 1])

    def _glows(self, canvas: U8Image, pose: _Pose) -> None:
        m = pose.actor.model
        strength = self._look.glow * (1.0 - fog_factor(self._look, pose.dist))
        for points, facing, (radius_m, colour) in ((m.head_points, 1.0, GLOW_HEAD), (m.tail_points, -1.0, GLOW_TAIL)):
            if facing * pose.proj.eye[0] <= m.length / 2:
                continue
            for i in points:
                r = self._cam.fpx * radius_m / float(pose.proj.z[i])
                add_glow(canvas, (float(pose.proj.uv[i, 0]), float(pose.proj.uv[i, 1])), r, colour, strength)

    def _objects(self, poses: list[_Pose]) -> list[ObjectTruth]:
        shown = sorted((p for p in poses if p.clipped is not None), key=lambda p: -p.depth)
        fracs = self._visibility(shown)
        out = [ObjectTruth(p.actor.track_id, p.actor.cls, p.clipped, frac, p.actor.lane.id,
                           self._motion_box(p, p.clipped))
               for p, frac in zip(shown, fracs, strict=True) if p.clipped is not None]
        return sorted(out, key=lambda o: o.track_id)

    def _visibility(self, ordered: list[_Pose]) -> list[float]:
        """Visible share of each silhouette after painter's-order occlusion and frame clipping."""
        if not ordered:
            return []
        w, h = round(self.spec.width * VIS_SCALE), round(self.spec.height * VIS_SCALE)
        hulls = [np.round(cv2.convexHull(p.proj.uv.astype(np.float32)).reshape(-1, 2) * VIS_SCALE).astype(np.int32)
                 for p in ordered]
        lo = np.clip(np.min([hull.min(axis=0) for hull in hulls], axis=0), 0, (w - 1, h - 1))
        hi = np.clip(np.max([hull.max(axis=0) for hull in hulls], axis=0) + 1, 1, (w, h))
        labels = np.zeros((int(hi[1] - lo[1]), int(hi[0] - lo[0])), dtype=np.uint8)  # only the busy region
        for k, hull in enumerate(hulls, start=1):
            cv2.fillConvexPoly(labels, hull - lo, k)
        seen = np.bincount(labels.ravel(), minlength=len(hulls) + 1)
        return [self._fraction(int(seen[k]), hull) for k, hull in enumerate(hulls, start=1)]

    @staticmethod
    def _fraction(seen: int, hull: npt.NDArray[np.int32]) -> float:
        lo = hull.min(axis=0)
        size = hull.max(axis=0) - lo + 1
        own = np.zeros((int(size[1]), int(size[0])), dtype=np.uint8)
        cv2.fillConvexPoly(own, hull - lo, 1)
        total = int(np.count_nonzero(own))
        return round(min(1.0, seen / total), 3) if total else 0.0


__all__ = ["SceneRenderer"]

