"""Synthetic traffic scenes: a fixed camera over a road, with deterministic frames and ground truth.

Specs, URIs and truth types import without OpenCV; the renderer, video writer and crop dataset load
OpenCV on first use (so ``aiotwin --help`` and config loading stay light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from aiotwin.scenes._spec import (
    LIGHTINGS,
    WEATHERS,
    CameraSpec,
    CountingLine,
    LaneSpec,
    camera_names,
    load_camera,
)
from aiotwin.scenes._truth import FrameTruth, ObjectTruth
from aiotwin.scenes._uri import parse_synthetic_uri

if TYPE_CHECKING:
    from aiotwin.scenes._dataset import crop_dataset
    from aiotwin.scenes._renderer import SceneRenderer
    from aiotwin.scenes._video import render_video

_LAZY = {
    "SceneRenderer": "aiotwin.scenes._renderer",
    "render_video": "aiotwin.scenes._video",
    "crop_dataset": "aiotwin.scenes._dataset",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LIGHTINGS",
    "WEATHERS",
    "CameraSpec",
    "CountingLine",
    "FrameTruth",
    "LaneSpec",
    "ObjectTruth",
    "SceneRenderer",
    "camera_names",
    "crop_dataset",
    "load_camera",
    "parse_synthetic_uri",
    "render_video",
]
