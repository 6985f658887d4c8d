"""The static backdrop of a camera, rendered once and cached per spec.

Layers: ground (verge, road surfaces, medians, curbs, markings, crosswalk, texture) authored in day
colours, then baked with the look (tint + per-pixel fog by ground distance, sky above the horizon),
then lamp pools, then scenery props drawn far to near with per-prop lighting. Two variants are kept
for per-frame compositing: ``shadow`` (ground darkened by a cast shadow) and ``lit`` (ground under a
headlight beam).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from aiotwin.scenes._draw import LINE, SHIFT, Projection, add_glow, draw_model, fixed
from aiotwin.scenes._look import Look, fog_factor, lit_colours, look_for
from aiotwin.scenes._road import NEAR_M, PinholeCamera, camera_for, lane_extent, line_x, project_polygon
from aiotwin.scenes._scenery import LAMP_HEIGHT_M, Prop, far_side, layout

if TYPE_CHECKING:
    from aiotwin.scenes._spec import CameraSpec, LaneSpec

U8Image = npt.NDArray[np.uint8]
BGR = tuple[float, float, float]

GROUND: dict[str, BGR] = {"grass": (70, 125, 90), "concrete": (140, 145, 150), "water": (125, 95, 55),
                          "dirt": (95, 125, 145)}
SURFACE: dict[str, BGR] = {"road": (80, 80, 82), "bike": (70, 80, 135), "sidewalk": (165, 165, 170)}
MEDIAN: BGR = (135, 140, 140)
CURB: BGR = (195, 195, 200)
WHITE: BGR = (225, 225, 225)
YELLOW: BGR = (40, 185, 225)
PATCH: BGR = (66, 66, 68)
ROAD_HALF_LENGTH_M = 600.0
MARK_HALF_LENGTH_M = 250.0
MARK_WIDTH_M = 0.14
DASH_M, DASH_GAP_M = 3.0, 6.0
CONTIGUOUS_GAP_M = 0.6
SHOULDER_M = 0.5
CURB_M = 0.25
CROSSWALK_OFFSET_M = 14.0
TEXTURE_SIGMA = 6.0
POOL_RADIUS_M = 7.0
POOL_GAIN = 1.4
BEAM_GAIN, BEAM_ADD = 1.2, 20.0
GLOW_RADIUS_M = 1.1
PROP_MARGIN_M = 40.0
CACHE_SIZE = 12


@dataclass(frozen=True)
class Backdrop:
    image: U8Image
    shadow: U8Image | None  # None when the look casts no shadows
    lit: U8Image | None  # None when headlights cast no pools


_CACHE: OrderedDict[tuple[Any, ...], Backdrop] = OrderedDict()
_GROUND: OrderedDict[tuple[Any, ...], U8Image] = OrderedDict()


def _ground_quad(cam: PinholeCamera, img: U8Image, xs: tuple[float, float], ys: tuple[float, float],
                 colour: BGR) -> None:
    poly = np.array([[xs[0], ys[0], 0.0], [xs[1], ys[0], 0.0], [xs[1], ys[1], 0.0], [xs[0], ys[1], 0.0]])
    uv = project_polygon(cam, poly)
    if uv is not None:
        cv2.fillConvexPoly(img, fixed(uv), colour, LINE, SHIFT)


def _strip(cam: PinholeCamera, img: U8Image, ys: tuple[float, float], colour: BGR) -> None:
    _ground_quad(cam, img, (-ROAD_HALF_LENGTH_M, ROAD_HALF_LENGTH_M), ys, colour)


def _line(cam: PinholeCamera, img: U8Image, y: float, x0: float, colour: BGR, *, dashed: bool) -> None:
    ys = (y - MARK_WIDTH_M / 2, y + MARK_WIDTH_M / 2)
    if not dashed:
        _ground_quad(cam, img, (x0 - MARK_HALF_LENGTH_M, x0 + MARK_HALF_LENGTH_M), ys, colour)
        return
    for x in np.arange(x0 - MARK_HALF_LENGTH_M, x0 + MARK_HALF_LENGTH_M, DASH_M + DASH_GAP_M):
        _ground_quad(cam, img, (float(x), float(x) + DASH_M), ys, colour)


def _span(a: float, b: float) -> tuple[float, float]:
    return (min(a, b), max(a, b))


def _edges(lane: LaneSpec) -> tuple[float, float]:
    return lane.offset_m - lane.width_m / 2, lane.offset_m + lane.width_m / 2


def _surfaces(cam: PinholeCamera, img: U8Image, lanes: list[LaneSpec]) -> None:
    for lane in lanes:
        _strip(cam, img, _edges(lane), SURFACE[lane.kind])
    for a, b in pairwise(lanes):
        lo, hi = _edges(a)[1], _edges(b)[0]
        if hi - lo > CONTIGUOUS_GAP_M:
            _strip(cam, img, (lo, hi), MEDIAN)
            _strip(cam, img, (lo, lo + CURB_M), CURB)
            _strip(cam, img, (hi - CURB_M, hi), CURB)
        elif hi > lo:
            _strip(cam, img, (lo, hi), SURFACE[a.kind])
        if a.kind != b.kind and "sidewalk" in (a.kind, b.kind):
            _strip(cam, img, (hi - CURB_M / 2, hi + CURB_M / 2), CURB)
    for lane, sign in ((lanes[0], -1.0), (lanes[-1], 1.0)):
        if lane.kind != "sidewalk":
            edge = _edges(lane)[1 if sign > 0 else 0]
            _strip(cam, img, _span(edge, edge + sign * SHOULDER_M), SURFACE[lane.kind])
            out = edge + sign * SHOULDER_M
            _strip(cam, img, _span(out, out + sign * CURB_M), CURB)


def _markings(cam: PinholeCamera, img: U8Image, lanes: list[LaneSpec], x0: float) -> None:
    driven = [lane for lane in lanes if lane.kind != "sidewalk"]
    for a, b in pairwise(driven):
        lo, hi = _edges(a)[1], _edges(b)[0]
        if hi - lo > CONTIGUOUS_GAP_M:
            continue
        mid = (lo + hi) / 2
        if a.kind != b.kind:
            _line(cam, img, mid, x0, WHITE, dashed=False)
        elif a.direction == b.direction:
            _line(cam, img, mid, x0, WHITE, dashed=True)
        else:
            for dy in (-0.12, 0.12):
                _line(cam, img, mid + dy, x0, YELLOW, dashed=False)
    for lane in driven:
        if lane.kind != "road":
            continue
        for edge, inward in ((_edges(lane)[0], 0.2), (_edges(lane)[1], -0.2)):
            if not _has_neighbour(lane, edge, driven):
                _line(cam, img, edge + inward, x0, WHITE, dashed=False)


def _has_neighbour(lane: LaneSpec, edge: float, driven: list[LaneSpec]) -> bool:
    return any(o is not lane and min(abs(e - edge) for e in _edges(o)) <= CONTIGUOUS_GAP_M for o in driven)


def _crosswalk(cam: PinholeCamera, img: U8Image, lanes: list[LaneSpec], x0: float) -> None:
    driven = [lane for lane in lanes if lane.kind != "sidewalk"]
    lo, hi = min(_edges(lane)[0] for lane in driven), max(_edges(lane)[1] for lane in driven)
    xc = x0 + CROSSWALK_OFFSET_M
    for y in np.arange(lo + 0.3, hi - 0.3, 1.0):
        _ground_quad(cam, img, (xc - 1.6, xc + 1.6), (float(y), float(y) + 0.5), WHITE)


def _patches(cam: PinholeCamera, img: U8Image, lanes: list[LaneSpec], x0: float, rng: np.random.Generator) -> None:
    for lane in (lane for lane in lanes if lane.kind == "road"):
        lo, hi = _edges(lane)
        for _ in range(6):
            x = x0 + float(rng.uniform(-60.0, 60.0))
            y = float(rng.uniform(lo + 0.3, hi - 1.0))
            _ground_quad(cam, img, (x, x + float(rng.uniform(0.8, 3.0))), (y, y + float(rng.uniform(0.4, 1.2))), PATCH)


def _ground_layer(spec: CameraSpec, cam: PinholeCamera) -> U8Image:
    """The ground in day colours (cached: lighting and weather are applied afterwards)."""
    key = (spec.width, spec.height, spec.camera, spec.scenery, spec.line, spec.lanes)
    found = _GROUND.get(key)
    if found is None:
        found = _GROUND[key] = _draw_ground(spec, cam)
        found.setflags(write=False)
        while len(_GROUND) > CACHE_SIZE:
            _GROUND.popitem(last=False)
    return found


def _draw_ground(spec: CameraSpec, cam: PinholeCamera) -> U8Image:
    img = np.empty((spec.height, spec.width, 3), dtype=np.uint8)
    img[:] = np.asarray(GROUND[spec.scenery.ground], dtype=np.uint8)
    lanes = sorted(spec.lanes, key=lambda lane: lane.offset_m)
    x0 = line_x(spec)
    rng = np.random.default_rng(spec.scenery.layout_seed)
    _surfaces(cam, img, lanes)
    _patches(cam, img, lanes, x0, rng)
    _markings(cam, img, lanes, x0)
    if spec.scenery.crosswalk:
        _crosswalk(cam, img, lanes, x0)
    grain = cv2.GaussianBlur(rng.normal(0.0, TEXTURE_SIGMA, img.shape[:2]).astype(np.float32), (3, 3), 0)
    return np.asarray(np.clip(img.astype(np.float32) + grain[..., None], 0, 255), dtype=np.uint8)


def _bake(img: U8Image, cam: PinholeCamera, look: Look) -> U8Image:
    """Tint the day-coloured ground, fog it by per-pixel distance, and paint the sky."""
    dist = cam.ground_distance_map()
    fog = (1.0 - np.exp(-dist / np.float32(look.fog_m))).astype(np.float32)
    tinted = cv2.multiply(img, (*look.tint, 0.0))
    haze = np.empty_like(img)
    haze[:] = np.asarray(look.fog_colour, dtype=np.uint8)
    out = np.asarray(cv2.blendLinear(tinted, haze, 1.0 - fog, fog), dtype=np.uint8)
    sky = ~np.isfinite(dist)
    if sky.any():
        rows = np.arange(img.shape[0], dtype=np.float32)
        t = np.clip(rows / max(1.0, cam.horizon_y), 0.0, 1.0)[:, None, None]
        grad = np.asarray(look.sky_top, np.float32) * (1 - t) + np.asarray(look.sky_horizon, np.float32) * t
        np.copyto(out, np.broadcast_to(grad.astype(np.uint8), out.shape), where=sky[..., None])
    return out


def _lamp_pools(img: U8Image, cam: PinholeCamera, lamps: list[Prop], look: Look, sign: float) -> U8Image:
    if look.glow <= 0 or not lamps:
        return img
    mask = np.zeros(img.shape[:2], dtype=np.float32)
    angles = np.linspace(0, 2 * math.pi, 20, endpoint=False)
    for lamp in lamps:
        cx, cy = lamp.x, lamp.y - sign * 1.6
        ring = np.stack([cx + POOL_RADIUS_M * np.cos(angles), cy + POOL_RADIUS_M * np.sin(angles),
                         np.zeros_like(angles)], axis=1)
        uv = project_polygon(cam, ring)
        if uv is not None:
            cv2.fillConvexPoly(mask, fixed(uv), 1.0, LINE, SHIFT)
    k = max(3, (img.shape[1] // 40) | 1)
    mask = cv2.GaussianBlur(mask, (k, k), 0)
    gain = 1.0 + POOL_GAIN * look.glow * mask[..., None]
    return np.asarray(np.clip(img.astype(np.float32) * gain, 0, 255), dtype=np.uint8)


def _draw_props(img: U8Image, cam: PinholeCamera, props: list[Prop], look: Look, sign: float) -> None:
    placed = sorted(props, key=lambda p: -float(np.hypot(p.x - cam.pos[0], p.y - cam.pos[1])))
    for prop in placed:
        offset = np.array([prop.x, prop.y, 0.0])
        uv, z = cam.project(prop.model.points + offset)
        if (z < NEAR_M).any():
            continue
        dist = float(np.linalg.norm(offset - cam.pos))
        colours = lit_colours(look, prop.model.colours, prop.model.lights, dist)
        draw_model(img, prop.model, Projection(prop.model.points, uv, z, cam.pos - offset), colours, cam.fpx)
        if prop.lamp and look.glow > 0:
            head = cam.project(np.array([[prop.x, prop.y - sign * 1.6, LAMP_HEIGHT_M - 0.2]]))
            strength = look.glow * (1.0 - fog_factor(look, dist))
            add_glow(img, (float(head[0][0, 0]), float(head[0][0, 1])), cam.fpx * GLOW_RADIUS_M / float(head[1][0]),
                     (200, 230, 255), strength)


def _prop_range(spec: CameraSpec, cam: PinholeCamera) -> tuple[float, float]:
    sign, edge = far_side(spec)
    extent = lane_extent(cam, edge + sign * 4.0, spec.camera.view_distance_m * 2, line_x(spec))
    lo, hi = extent if extent is not None else (-60.0, 60.0)
    return lo - PROP_MARGIN_M, hi + PROP_MARGIN_M


def _static_key(spec: CameraSpec) -> tuple[Any, ...]:
    """What the backdrop depends on (not the traffic: mix, density and effects are left out)."""
    return (spec.width, spec.height, spec.camera, spec.scenery, spec.line, spec.lanes, spec.lighting, spec.weather)


def backdrop_for(spec: CameraSpec) -> Backdrop:
    """The baked background of ``spec`` (under its lighting and weather), cached by what it depends on."""
    key = _static_key(spec)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = _build(spec)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return found


def _build(spec: CameraSpec) -> Backdrop:
    cam = camera_for(spec)
    look = look_for(spec.lighting, spec.weather)
    sign, _ = far_side(spec)
    props = layout(spec, _prop_range(spec, cam))
    img = _bake(_ground_layer(spec, cam), cam, look)
    img = _lamp_pools(img, cam, [p for p in props if p.lamp], look, sign)
    _draw_props(img, cam, props, look, sign)
    base = img.astype(np.float32)
    shadow = (base * (1.0 - look.shadow)).astype(np.uint8) if look.shadow > 0 else None
    lit = None
    if look.beam > 0:
        lit = np.clip(base * (1.0 + BEAM_GAIN * look.beam) + BEAM_ADD * look.beam, 0, 255).astype(np.uint8)
    for arr in (img, shadow, lit):
        if arr is not None:
            arr.setflags(write=False)
    return Backdrop(img, shadow, lit)


__all__ = ["Backdrop", "backdrop_for"]
