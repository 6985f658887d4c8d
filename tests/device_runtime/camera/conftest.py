from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from device_runtime._exceptions import SourceError

VIDEO_FRAMES = 24
VIDEO_SIZE = (160, 120)  # width, height


def _scenes_video(out: Path, frames: int) -> Path | None:
    """Render with aiotwin.scenes.render_video when the scene renderer is there."""
    try:
        from aiotwin.scenes import parse_synthetic_uri, render_video
    except ImportError:
        return None
    spec, seed = parse_synthetic_uri("synthetic:downtown?seed=3&size=320x240")
    render_video(spec, seed, frames, out, None)
    return out


def _opencv_video(out: Path, frames: int) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 15, VIDEO_SIZE)
    for i in range(frames):
        img = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), 40, np.uint8)
        img[:, (i * 6) % VIDEO_SIZE[0]:][:, :12] = 220
        writer.write(img)
    writer.release()
    return out


@pytest.fixture
def video(tmp_path: Path) -> tuple[Path, int]:
    """A short video file and its frame count (rendered scene, or OpenCV-written MJPG)."""
    pytest.importorskip("cv2", reason="file sources need OpenCV (infer extra)")
    rendered = _scenes_video(tmp_path / "scene.mp4", VIDEO_FRAMES)
    return rendered or _opencv_video(tmp_path / "clip.avi", VIDEO_FRAMES), VIDEO_FRAMES


class FakeSource:
    """A scripted FrameSource: each step is 'frame', 'none', 'fail' (raise SourceError) or 'end'."""

    def __init__(self, steps: list[str], *, live: bool = True, pace_fps: float | None = None,
                 on_read: Callable[[], None] | None = None) -> None:
        self._steps: Iterator[str] = iter(steps)
        self._live = live
        self._pace_fps = pace_fps
        self._on_read = on_read
        self.closed = False
        self.reads = 0

    @property
    def is_live(self) -> bool:
        return self._live

    @property
    def pace_fps(self) -> float | None:
        return self._pace_fps

    def read(self):
        self.reads += 1
        if self._on_read:
            self._on_read()
        step = next(self._steps, "frame" if self._live else "end")
        if step == "fail":
            raise SourceError("scripted failure")
        if step in ("none", "end"):
            return None
        return np.full((4, 4, 3), self.reads % 256, np.uint8)

    def close(self) -> None:
        self.closed = True

    def describe(self) -> str:
        return "fake"
