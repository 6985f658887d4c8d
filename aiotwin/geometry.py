"""Image-plane geometry shared by the scene generator (ground truth) and the counting pipeline.

Conventions (one definition for truth and counter alike):

- boxes are ``(x1, y1, x2, y2)`` in pixels, x right, y down;
- the anchor point of an object is the centre of its box;
- a counting line is ``(x1, y1, x2, y2)``; :func:`side_of_line` is the z of the cross product
  ``(p2 - p1) × (pt - p1)``: positive on one side, negative on the other;
- a crossing from the positive to the negative side is direction ``"in"``, from negative to
  positive ``"out"``.
"""

from __future__ import annotations

from typing import Literal

Box = tuple[float, float, float, float]
Line = tuple[float, float, float, float]
Direction = Literal["in", "out"]


def box_center(box: Box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def side_of_line(line: Line, pt: tuple[float, float]) -> float:
    x1, y1, x2, y2 = line
    return (x2 - x1) * (pt[1] - y1) - (y2 - y1) * (pt[0] - x1)


def crossing_direction(prev_side: float, new_side: float) -> Direction | None:
    """Direction of a move from ``prev_side`` to ``new_side`` (values of :func:`side_of_line`)."""
    if prev_side > 0 >= new_side:
        return "in"
    if prev_side < 0 <= new_side:
        return "out"
    return None


def within_segment(line: Line, pt: tuple[float, float], margin: float = 0.0) -> bool:
    """True when ``pt`` projects onto the segment (extended by ``margin`` pixels at both ends)."""
    x1, y1, x2, y2 = line
    dx, dy = x2 - x1, y2 - y1
    length_sq = dx * dx + dy * dy
    if length_sq == 0:
        return False
    t = ((pt[0] - x1) * dx + (pt[1] - y1) * dy) / length_sq
    m: float = margin / float(length_sq) ** 0.5
    return -m <= t <= 1 + m


def iou(a: Box, b: Box) -> float:
    ix1, iy1, ix2, iy2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    iw, ih = max(0.0, ix2 - ix1), max(0.0, iy2 - iy1)
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def parse_line(text: str) -> Line:
    """Parse ``"x1,y1,x2,y2"`` (the ``--line`` flag); raise ValueError with the reason."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"expected x1,y1,x2,y2 (4 numbers), got {text!r}")
    try:
        x1, y1, x2, y2 = (float(p) for p in parts)
    except ValueError as exc:
        raise ValueError(f"expected numbers in x1,y1,x2,y2, got {text!r}") from exc
    if (x1, y1) == (x2, y2):
        raise ValueError("a counting line needs two distinct points")
    return (x1, y1, x2, y2)


__all__ = [
    "Box", "Direction", "Line", "box_center", "crossing_direction", "iou", "parse_line",
    "side_of_line", "within_segment",
]
