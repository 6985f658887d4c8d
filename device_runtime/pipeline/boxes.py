"""Pure box geometry shared by the tracker and the blob splitter (no OpenCV).

Boxes are ``(x1, y1, x2, y2)`` in pixels, as :data:`aiotwin.geometry.Box`.
"""

from __future__ import annotations

from aiotwin.geometry import Box

Point = tuple[float, float]


def size(box: Box) -> tuple[float, float]:
    return (box[2] - box[0], box[3] - box[1])


def center(box: Box) -> Point:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def from_center(cx: float, cy: float, w: float, h: float) -> Box:
    return (cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)


def coverage(inner: Box, outer: Box) -> float:
    """Share of ``inner``'s area that lies inside ``outer``."""
    iw = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    ih = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return iw * ih / area if area > 0 else 0.0


def extent_along(box: Box, heading: Point) -> float:
    """Length of ``box`` along the unit vector ``heading``."""
    w, h = size(box)
    return abs(w * heading[0]) + abs(h * heading[1])


def clamp_into(box: Box, blob: Box) -> Box:
    """Shift ``box`` (keeping its size where possible) so that it lies inside ``blob``."""
    w, h = min(size(box)[0], size(blob)[0]), min(size(box)[1], size(blob)[1])
    cx, cy = center(box)
    cx = min(max(cx, blob[0] + w / 2.0), blob[2] - w / 2.0)
    cy = min(max(cy, blob[1] + h / 2.0), blob[3] - h / 2.0)
    return from_center(cx, cy, w, h)


__all__ = ["center", "clamp_into", "coverage", "extent_along", "from_center", "size"]
