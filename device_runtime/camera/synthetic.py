"""Synthetic cameras: ``synthetic:CAMERA?seed=N&…`` rendered by :mod:`aiotwin.scenes`.

A synthetic camera is live (it never ends). The capture thread paces it at the camera's fps, at the
``fps`` given to :func:`open_synthetic` instead, or not at all when that is 0 (benchmarks, tests).
The ground truth of the last frame is kept for the emulator and tests.
"""

from __future__ import annotations

from typing import Any

from device_runtime._exceptions import SourceError
from device_runtime.camera.base import Image


class SyntheticSource:
    """A scene renderer as a :class:`device_runtime.camera.FrameSource`."""

    def __init__(self, renderer: Any, description: str, pace_fps: float | None) -> None:
        self._renderer: Any = renderer
        self._description = description
        self._pace_fps = pace_fps
        self.last_truth: Any = None

    @property
    def is_live(self) -> bool:
        return True

    @property
    def pace_fps(self) -> float | None:
        return self._pace_fps

    def read(self) -> Image | None:
        if self._renderer is None:
            raise SourceError(f"{self._description}: source is closed")
        frame, self.last_truth = self._renderer.next_frame()
        return frame  # type: ignore[no-any-return]

    def close(self) -> None:
        self._renderer = None

    def describe(self) -> str:
        return self._description


def open_synthetic(uri: str, *, fps: float | None = None) -> SyntheticSource:
    """Parse ``uri`` and start its renderer; :class:`SourceError` when the spec is malformed."""
    from aiotwin._exceptions import AiotwinError
    from aiotwin.scenes import SceneRenderer, parse_synthetic_uri

    try:
        spec, seed = parse_synthetic_uri(uri)
        renderer = SceneRenderer(spec, seed)
    except AiotwinError as exc:
        raise SourceError(f"{uri}: {exc}") from exc
    rate = float(spec.fps) if fps is None else float(fps)
    return SyntheticSource(renderer, uri, rate if rate > 0 else None)


__all__ = ["SyntheticSource", "open_synthetic"]
