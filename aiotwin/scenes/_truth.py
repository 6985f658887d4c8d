"""Ground truth per frame, and the crossing counter that uses the shared geometry convention.

A crossing is counted when an object's box centre changes side of the counting line
(:func:`aiotwin.geometry.side_of_line`, :func:`aiotwin.geometry.crossing_direction`) while within
the segment (:func:`aiotwin.geometry.within_segment`), at most once per track: an object that halts
on the line and wobbles across it is still one crossing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiotwin.geometry import Box, Direction, Line, crossing_direction, side_of_line, within_segment
from aiotwin.labels import CLASSES

Crossing = tuple[int, str, Direction, str | None]


@dataclass(frozen=True, slots=True)
class ObjectTruth:
    """One object in one frame: box clipped to the frame; ``visible_frac`` after occlusion and clipping.

    ``motion_box`` is what a background-subtraction detector sees of it: the box grown by the
    object's cast shadow and headlight pool (clipped to the frame; equal to ``box`` when neither
    is drawn).
    """

    track_id: int
    cls: str
    box: Box
    visible_frac: float
    lane: str
    motion_box: Box


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """Truth of one frame: every object whose box touches the frame, and the crossings that happened."""

    index: int
    objects: list[ObjectTruth] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)


def zero_counts() -> dict[str, dict[str, int]]:
    return {cls: {"in": 0, "out": 0} for cls in CLASSES}


class CrossingCounter:
    """Counts line crossings of tracked box centres, once per track."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.counts = zero_counts()
        self._sides: dict[int, float] = {}
        self._counted: set[int] = set()

    def update(self, track_id: int, cls: str, centre: tuple[float, float], lane: str | None) -> Crossing | None:
        side = side_of_line(self.line, centre)
        prev = self._sides.get(track_id)
        self._sides[track_id] = side
        if prev is None or track_id in self._counted:
            return None
        direction = crossing_direction(prev, side)
        if direction is None or not within_segment(self.line, centre):
            return None
        self._counted.add(track_id)
        self.counts[cls][direction] += 1
        return (track_id, cls, direction, lane)

    def forget(self, track_id: int) -> None:
        """Drop the side memory of a track that left the scene (its counted flag stays)."""
        self._sides.pop(track_id, None)


__all__ = ["Crossing", "CrossingCounter", "FrameTruth", "ObjectTruth", "zero_counts"]
