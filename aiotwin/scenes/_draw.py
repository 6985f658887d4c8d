"""Rasterise projected models and ground effects with OpenCV primitives (sub-pixel, anti-aliased)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from aiotwin.scenes._models import BALL, RING, STICK, Model, Prim

U8Image = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
Colour = tuple[int, int, int]

SHIFT = 4  # fixed-point bits for OpenCV sub-pixel drawing
ONE = 1 << SHIFT
LINE = cv2.LINE_AA
GLOW_SPRITE_MAX_PX = 96
GLOW_FALLOFF = 2.2  # gaussian falloff of a lamp halo (larger: tighter)


def fixed(uv: FloatArray) -> npt.NDArray[np.int32]:
    return np.round(uv * ONE).astype(np.int32)


def _visible(prim: Prim, pts: FloatArray, eye: FloatArray) -> bool:
    if prim.normal is None:
        return True
    p = pts[prim.anchor]
    n = prim.normal
    return bool(n[0] * (eye[0] - p[0]) + n[1] * (eye[1] - p[1]) + n[2] * (eye[2] - p[2]) > 0.0)


def _px(size_m: float, fpx: float, depth: float) -> float:
    return fpx * size_m / max(depth, 0.5)


@dataclass(frozen=True, slots=True)
class Projection:
    """A posed model: model-frame points, their pixels and depths, and the camera in the model frame."""

    pts: FloatArray
    uv: FloatArray
    z: FloatArray
    eye: FloatArray


def _draw_prim(img: U8Image, prim: Prim, q: npt.NDArray[np.int32], z: FloatArray, *, colour: Colour,
               fpx: float) -> None:
    if prim.kind == BALL:
        i = int(prim.idx[0])
        r = max(1, round(_px(prim.size, fpx, float(z[i])) * ONE))
        cv2.circle(img, (int(q[i, 0]), int(q[i, 1])), r, colour, -1, LINE, SHIFT)
    elif prim.kind == STICK:
        a, b = int(prim.idx[0]), int(prim.idx[1])
        t = max(1, round(_px(prim.size, fpx, float(z[a] + z[b]) / 2)))
        cv2.line(img, (int(q[a, 0]), int(q[a, 1])), (int(q[b, 0]), int(q[b, 1])), colour, t, LINE, SHIFT)
    elif prim.kind == RING:
        t = max(1, round(_px(prim.size, fpx, float(z[prim.idx].mean()))))
        cv2.polylines(img, [q[prim.idx]], True, colour, t, LINE, SHIFT)
    else:
        cv2.fillConvexPoly(img, q[prim.idx], colour, LINE, SHIFT)


def draw_model(img: U8Image, model: Model, proj: Projection, colours: list[Colour], fpx: float) -> None:
    """Draw ``model`` as projected in ``proj``: layer by layer, farther parts first, back faces culled."""
    q = fixed(proj.uv)
    z = proj.z
    order = sorted(model.parts, key=lambda p: (p.layer, -z[p.centre]))
    for part in order:
        for prim in part.prims:
            if _visible(prim, proj.pts, proj.eye):
                _draw_prim(img, prim, q, z, colour=colours[prim.colour], fpx=fpx)


def roi_of(poly: FloatArray, width: int, height: int, pad: int = 1) -> tuple[int, int, int, int] | None:
    x0 = max(0, math.floor(float(poly[:, 0].min())) - pad)
    y0 = max(0, math.floor(float(poly[:, 1].min())) - pad)
    x1 = min(width, math.ceil(float(poly[:, 0].max())) + pad)
    y1 = min(height, math.ceil(float(poly[:, 1].max())) + pad)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def paste_polygon(img: U8Image, source: U8Image, poly: FloatArray, soft_px: int = 0) -> None:
    """Blend ``source`` into ``img`` inside ``poly``, edges softened over ``soft_px`` pixels.

    Shadows and headlight pools reuse pre-lit copies of the backdrop.
    """
    pad = soft_px + 1
    roi = roi_of(poly, img.shape[1], img.shape[0], pad)
    if roi is None:
        return
    x0, y0, x1, y1 = roi
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillConvexPoly(mask, fixed(poly - (x0, y0)), 255, LINE, SHIFT)
    dst, src = img[y0:y1, x0:x1], source[y0:y1, x0:x1]
    if soft_px < 1:
        cv2.copyTo(src, mask, dst)
        return
    k = 2 * soft_px + 1
    weight = cv2.blur(mask, (k, k)).astype(np.float32) * np.float32(1.0 / 255.0)
    dst[:] = cv2.blendLinear(src, dst, weight, 1.0 - weight)


@functools.lru_cache(maxsize=256)
def glow_sprite(radius: int, colour: Colour, strength: float) -> U8Image:
    size = 2 * radius + 1
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1].astype(np.float32)
    falloff = np.exp(-GLOW_FALLOFF * (xx * xx + yy * yy) / float(radius * radius))
    sprite = falloff[..., None] * np.asarray(colour, dtype=np.float32) * strength
    return np.asarray(np.clip(sprite, 0, 255), dtype=np.uint8).reshape(size, size, 3)


def add_glow(img: U8Image, centre: tuple[float, float], radius_px: float, colour: Colour, strength: float) -> None:
    """Additive halo around a lamp (clipped at the frame border)."""
    r = min(GLOW_SPRITE_MAX_PX, max(2, round(radius_px)))
    sprite = glow_sprite(r, colour, round(strength, 2))
    cx, cy = round(centre[0]), round(centre[1])
    h, w = img.shape[:2]
    x0, y0, x1, y1 = cx - r, cy - r, cx + r + 1, cy + r + 1
    sx0, sy0 = max(0, -x0), max(0, -y0)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    dst = img[y0:y1, x0:x1]
    cv2.add(dst, sprite[sy0:sy0 + (y1 - y0), sx0:sx0 + (x1 - x0)], dst)


def motion_blur(img: U8Image, box: tuple[float, float, float, float], du: float, dv: float, amount: float) -> None:
    """Smear the region of a moving object along its image motion (axis-aligned box filter)."""
    kx, ky = round(abs(du) * amount), round(abs(dv) * amount)
    if kx < 2 and ky < 2:
        return
    h, w = img.shape[:2]
    x0, y0 = max(0, int(box[0]) - kx), max(0, int(box[1]) - ky)
    x1, y1 = min(w, int(box[2]) + kx + 1), min(h, int(box[3]) + ky + 1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    roi = img[y0:y1, x0:x1]
    roi[:] = cv2.blur(roi, (max(1, kx), max(1, ky)))


__all__ = ["Projection", "add_glow", "draw_model", "fixed", "glow_sprite", "motion_blur", "paste_polygon", "roi_of"]
