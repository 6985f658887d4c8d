"""Static scenery beside the road: buildings, trees and street lamps as world-frame models.

Scenery stands only on the far side of the road (seen from the camera) so it never hides traffic.
The layout is a pure function of the spec (``scenery.layout-seed``): a fixed camera sees a fixed street.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from aiotwin.scenes._models import BGR, LIGHT_GLASS, LIGHT_HEAD, Bounds, Builder, Model

if TYPE_CHECKING:
    from aiotwin.scenes._spec import CameraSpec

WALLS: tuple[BGR, ...] = (
    (150, 165, 180), (120, 130, 150), (95, 110, 140), (180, 180, 175), (110, 110, 115), (90, 120, 170),
    (160, 150, 140),
)
LEAVES: tuple[BGR, ...] = ((50, 110, 60), (40, 95, 70), (60, 125, 80), (45, 100, 95))
TRUNK: BGR = (40, 60, 85)
POLE: BGR = (90, 90, 95)
WINDOW: BGR = (95, 80, 70)
LAMP_SPACING_M = 32.0
LAMP_HEIGHT_M = 7.5
BUILDING_SETBACK_M = 7.0
WINDOW_PITCH_M = (3.2, 3.4)  # horizontal, vertical
LIT_WINDOW_SHARE = 0.45


@dataclass(frozen=True)
class Prop:
    """A scenery model placed at world ``(x, y)``."""

    model: Model
    x: float
    y: float
    lamp: bool = False


def far_side(spec: CameraSpec) -> tuple[float, float]:
    """``(sign, edge)``: the side of the road away from the camera and the road edge's ``y`` there."""
    centre = sum(lane.offset_m for lane in spec.lanes) / len(spec.lanes)
    sign = 1.0 if spec.camera.camera_y < centre else -1.0
    edge = max(sign * (lane.offset_m + sign * lane.width_m / 2) for lane in spec.lanes) * sign
    return sign, edge


def _tree(rng: np.random.Generator) -> Model:
    b = Builder()
    h = float(rng.uniform(5.0, 9.0))
    r = float(rng.uniform(1.6, 2.8))
    b.part(0, (0.0, 0.0, h / 3), b.box((-0.18, 0.18, -0.18, 0.18, 0.0, h - r), TRUNK))
    leaves = LEAVES[int(rng.integers(len(LEAVES)))]
    b.part(1, (0.0, 0.0, h - r), [b.ball((0.0, 0.0, h - r * 0.9), r, leaves),
                                  b.ball((0.25 * r, 0.0, h - r * 0.4), r * 0.7, leaves)])
    return b.build(2 * r, 2 * r, h)


def _lamp(sign: float) -> Model:
    b = Builder()
    arm = -sign * 1.6
    b.part(0, (0.0, 0.0, LAMP_HEIGHT_M / 2), b.box((-0.1, 0.1, -0.1, 0.1, 0.0, LAMP_HEIGHT_M), POLE))
    lo, hi = min(0.0, arm), max(0.0, arm)
    head: Bounds = (-0.25, 0.25, lo, hi, LAMP_HEIGHT_M - 0.15, LAMP_HEIGHT_M)
    bulb = b.ball((0.0, arm, LAMP_HEIGHT_M - 0.2), 0.18, (200, 220, 230), LIGHT_HEAD)
    b.part(1, (0.0, arm / 2, LAMP_HEIGHT_M), [*b.box(head, POLE), bulb])
    return b.build(0.5, abs(arm), LAMP_HEIGHT_M)


def _building(rng: np.random.Generator, spec: CameraSpec, width: float, sign: float) -> Model:
    b = Builder()
    h = float(rng.uniform(*spec.scenery.building_height_m))
    depth = float(rng.uniform(10.0, 16.0))
    y0, y1 = (0.0, depth) if sign > 0 else (-depth, 0.0)
    box: Bounds = (-width / 2, width / 2, y0, y1, 0.0, h)
    wall = WALLS[int(rng.integers(len(WALLS)))]
    prims = b.box(box, wall, top=(120, 120, 120))
    face = "right" if sign > 0 else "left"
    for fx in np.arange(-width / 2 + 1.2, width / 2 - 1.6, WINDOW_PITCH_M[0]):
        for fz in np.arange(1.2, h - 1.6, WINDOW_PITCH_M[1]):
            light = LIGHT_GLASS if rng.random() < LIT_WINDOW_SHARE else 0
            prims.append(b.panel(box, face, (fx, fx + 1.6), (fz, fz + 1.5), WINDOW, light=light))
    b.part(0, (0.0, (y0 + y1) / 2, h / 2), prims)
    return b.build(width, depth, h)


def layout(spec: CameraSpec, x_range: tuple[float, float]) -> list[Prop]:
    """Every scenery prop between ``x_range`` (road metres) on the far side of the road."""
    rng = np.random.default_rng(spec.scenery.layout_seed)
    sign, edge = far_side(spec)
    props: list[Prop] = []
    if spec.scenery.lamps:
        start = x_range[0] - x_range[0] % LAMP_SPACING_M
        props += [Prop(_lamp(sign), float(x), edge + sign * 0.8, lamp=True)
                  for x in np.arange(start, x_range[1], LAMP_SPACING_M)]
    if spec.scenery.trees_per_100m > 0:
        gap = 100.0 / spec.scenery.trees_per_100m
        for x in np.arange(x_range[0], x_range[1], gap):
            x_t = float(x + rng.uniform(-0.3, 0.3) * gap)
            props.append(Prop(_tree(rng), x_t, edge + sign * float(rng.uniform(3.0, 5.5))))
    if spec.scenery.buildings:
        x = x_range[0]
        while x < x_range[1]:
            width = float(rng.uniform(10.0, 26.0))
            props.append(Prop(_building(rng, spec, width, sign), x + width / 2,
                              edge + sign * BUILDING_SETBACK_M))
            x += width + float(rng.uniform(0.0, 6.0))
    return props


__all__ = ["Prop", "far_side", "layout"]
