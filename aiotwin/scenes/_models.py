"""Low-poly 3-D models made of boxes, panels, discs, rings, balls and sticks.

A :class:`Model` lives in its own frame (metres; ``x`` forward, ``y`` left, ``z`` up, origin on the
ground under its centre). It is drawn with OpenCV primitives after projection (see ``_draw``).
Parts are drawn layer by layer; within a layer, farther parts first. Colours are stored already
shaded per face (top brightest, ends darkest), so drawing only applies lighting and fog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
BGR = tuple[float, float, float]

QUAD, POLY, RING, BALL, STICK = 0, 1, 2, 3, 4
LIGHT_NONE, LIGHT_HEAD, LIGHT_TAIL, LIGHT_GLASS = 0, 1, 2, 3

SHADE_TOP, SHADE_SIDE, SHADE_END, SHADE_ROUND = 1.0, 0.8, 0.66, 0.9
PANEL_EPS_M = 0.015  # panels float this far off their face so they win the depth order
DISC_SIDES = 12

# Box corner order: index = 4*i + 2*j + k for (x0|x1, y0|y1, z0|z1).
_FACES: dict[str, tuple[tuple[int, ...], tuple[float, float, float], float]] = {
    "top": ((1, 5, 7, 3), (0.0, 0.0, 1.0), SHADE_TOP),
    "front": ((4, 6, 7, 5), (1.0, 0.0, 0.0), SHADE_END),
    "back": ((0, 2, 3, 1), (-1.0, 0.0, 0.0), SHADE_END),
    "left": ((2, 6, 7, 3), (0.0, 1.0, 0.0), SHADE_SIDE),
    "right": ((0, 4, 5, 1), (0.0, -1.0, 0.0), SHADE_SIDE),
}
Bounds = tuple[float, float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class Prim:
    """One drawable: ``idx`` are point indices; ``normal``/``anchor`` drive back-face culling."""

    kind: int
    idx: IndexArray
    colour: int
    normal: tuple[float, float, float] | None = None
    anchor: int = 0
    size: float = 0.0


@dataclass(frozen=True, slots=True)
class Part:
    layer: int
    centre: int
    prims: tuple[Prim, ...]


@dataclass(frozen=True)
class Model:
    """Geometry plus shaded colours of one object; ``posed`` animates limbs."""

    points: FloatArray
    parts: tuple[Part, ...]
    colours: FloatArray
    lights: npt.NDArray[np.int8]
    length: float
    width: float
    height: float
    head_points: tuple[int, ...] = ()
    tail_points: tuple[int, ...] = ()
    anim_idx: IndexArray | None = None
    anim_amp: FloatArray | None = None
    anim_off: FloatArray | None = None
    gait_m: float = 0.0

    def posed(self, phase: float) -> FloatArray:
        if self.anim_idx is None or self.anim_amp is None or self.anim_off is None:
            return self.points
        pts = self.points.copy()
        wave = np.sin(phase + self.anim_off) * self.anim_amp
        pts[self.anim_idx, 0] += wave[:, 0]
        pts[self.anim_idx, 2] += np.maximum(wave[:, 1], 0.0)
        return pts


def _scaled(bgr: BGR, shade: float) -> BGR:
    return (bgr[0] * shade, bgr[1] * shade, bgr[2] * shade)


class Builder:
    """Accumulates points, shaded colours and parts; :meth:`build` freezes them into a :class:`Model`."""

    def __init__(self) -> None:
        self._pts: list[tuple[float, float, float]] = []
        self._cols: list[BGR] = []
        self._lights: list[int] = []
        self._col_ids: dict[tuple[BGR, int], int] = {}
        self._parts: list[Part] = []
        self._anim: list[tuple[int, float, float, float, float]] = []

    def point(self, x: float, y: float, z: float) -> int:
        self._pts.append((x, y, z))
        return len(self._pts) - 1

    def points(self, pts: list[tuple[float, float, float]]) -> IndexArray:
        start = len(self._pts)
        self._pts.extend(pts)
        return np.arange(start, len(self._pts), dtype=np.intp)

    def colour(self, bgr: BGR, shade: float = 1.0, light: int = LIGHT_NONE) -> int:
        key = (_scaled(bgr, shade), light)
        if key not in self._col_ids:
            self._col_ids[key] = len(self._cols)
            self._cols.append(key[0])
            self._lights.append(light)
        return self._col_ids[key]

    def part(self, layer: int, centre: tuple[float, float, float], prims: list[Prim]) -> None:
        self._parts.append(Part(layer, self.point(*centre), tuple(prims)))

    def box(self, b: Bounds, bgr: BGR, *, top: BGR | None = None, faces: tuple[str, ...] = tuple(_FACES),
            light: int = LIGHT_NONE) -> list[Prim]:
        x0, x1, y0, y1, z0, z1 = b
        corners = self.points([(x, y, z) for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
        prims = []
        for name in faces:
            order, normal, shade = _FACES[name]
            col = top if (name == "top" and top is not None) else bgr
            idx = corners[list(order)]
            prims.append(Prim(QUAD, idx, self.colour(col, shade, light), normal, int(idx[0])))
        return prims

    def panel(self, b: Bounds, face: str, a: tuple[float, float], c: tuple[float, float], bgr: BGR, *,
              light: int = LIGHT_NONE, lift: float = 1.0) -> Prim:
        """A quad on ``face`` of box ``b``: ``a`` spans x (sides, top) or y (ends); ``c`` spans z or y (top)."""
        x0, x1, y0, y1, _, z1 = b
        eps = PANEL_EPS_M * lift
        _, normal, shade = _FACES[face]
        if face in ("left", "right"):
            y = y1 + eps if face == "left" else y0 - eps
            quad = [(a[0], y, c[0]), (a[1], y, c[0]), (a[1], y, c[1]), (a[0], y, c[1])]
        elif face in ("front", "back"):
            x = x1 + eps if face == "front" else x0 - eps
            quad = [(x, a[0], c[0]), (x, a[1], c[0]), (x, a[1], c[1]), (x, a[0], c[1])]
        else:
            z = z1 + eps
            quad = [(a[0], c[0], z), (a[1], c[0], z), (a[1], c[1], z), (a[0], c[1], z)]
        idx = self.points(quad)
        return Prim(QUAD, idx, self.colour(bgr, 1.0 if light else shade, light), normal, int(idx[0]))

    def panels_both_sides(self, b: Bounds, a: tuple[float, float], c: tuple[float, float], bgr: BGR, *,
                          lift: float = 1.0) -> list[Prim]:
        return [self.panel(b, "left", a, c, bgr, lift=lift), self.panel(b, "right", a, c, bgr, lift=lift)]

    def disc(self, centre: tuple[float, float, float], r: float, bgr: BGR, *, ring: float = 0.0,
             facing: float = 0.0) -> Prim:
        """A wheel in the x–z plane through ``centre``; ``facing`` ±1 culls it from the other side, 0 never."""
        x, y, z = centre
        angles = np.linspace(0.0, 2.0 * math.pi, DISC_SIDES, endpoint=False)
        idx = self.points([(x + r * math.cos(t), y, z + r * math.sin(t)) for t in angles])
        normal = (0.0, facing, 0.0) if facing else None
        kind = RING if ring > 0 else POLY
        return Prim(kind, idx, self.colour(bgr, SHADE_SIDE), normal, int(idx[0]), ring)

    def ball(self, centre: tuple[float, float, float], r: float, bgr: BGR, light: int = LIGHT_NONE) -> Prim:
        i = self.point(*centre)
        shade = 1.0 if light else SHADE_ROUND
        return Prim(BALL, np.array([i], dtype=np.intp), self.colour(bgr, shade, light), None, i, r)

    def stick(self, a: tuple[float, float, float], b: tuple[float, float, float], thickness: float,
              bgr: BGR) -> Prim:
        idx = self.points([a, b])
        return Prim(STICK, idx, self.colour(bgr, SHADE_ROUND), None, int(idx[0]), thickness)

    def animate(self, point: int, amp_x: float, amp_z: float, off_x: float, off_z: float) -> None:
        """Make ``point`` swing: ``x += amp_x sin(phase + off_x)``, ``z += max(0, amp_z sin(phase + off_z))``."""
        self._anim.append((point, amp_x, amp_z, off_x, off_z))

    def build(self, length: float, width: float, height: float, *, heads: tuple[int, ...] = (),
              tails: tuple[int, ...] = (), gait_m: float = 0.0) -> Model:
        anim = np.array(self._anim, dtype=np.float64).reshape(-1, 5)
        return Model(
            points=np.array(self._pts, dtype=np.float64),
            parts=tuple(sorted(self._parts, key=lambda p: p.layer)),
            colours=np.array(self._cols, dtype=np.float64).reshape(-1, 3),
            lights=np.array(self._lights, dtype=np.int8),
            length=length, width=width, height=height, head_points=heads, tail_points=tails,
            anim_idx=anim[:, 0].astype(np.intp) if len(anim) else None,
            anim_amp=anim[:, 1:3] if len(anim) else None,
            anim_off=anim[:, 3:5] if len(anim) else None,
            gait_m=gait_m,
        )


__all__ = [
    "BALL", "BGR", "LIGHT_GLASS", "LIGHT_HEAD", "LIGHT_NONE", "LIGHT_TAIL", "POLY", "QUAD", "RING", "STICK",
    "Bounds", "Builder", "Model", "Part", "Prim",
]
