"""The vehicle classes of the reference task, in model output order."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("car", "bus", "truck", "motorcycle", "bicycle", "pedestrian")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

__all__ = ["CLASSES", "CLASS_INDEX"]
