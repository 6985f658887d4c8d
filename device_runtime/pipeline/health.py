"""Camera health from the frames themselves: frozen, black, occluded/defocused.

Each condition is a small hysteresis state machine: it becomes active after ``onset`` consecutive
bad frames and clears after ``release`` consecutive good frames, raising one
:class:`~aiotwin.wire.HealthEvent` at each transition and nothing in between (no event storms).

- **frozen**: the frame is identical to the previous one (max absolute difference ≤
  :data:`FROZEN_MAX_DIFF` on the downscaled grey frame) for ``frozen_frames`` frames;
- **black**: mean luma below ``black_level`` for ``window_frames`` frames; it clears only above
  ``black_level × BLACK_CLEAR_RATIO`` (a dark night scene near the threshold does not flap);
- **occluded**: variance of the Laplacian, averaged over ``window_frames`` frames, below
  ``blur_threshold`` (lens covered, defocused, fogged); clears above ``blur_threshold ×
  BLUR_CLEAR_RATIO``. A black frame is not also reported as occluded.

The checks work on a small grey frame (the motion stage's) and cost well under a millisecond.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aiotwin.wire import HealthEvent
from device_runtime.config import HealthConfig

FROZEN_MAX_DIFF = 0  # grey levels: identical frames (a live sensor always has some noise)
BLACK_CLEAR_RATIO = 1.5  # black clears above black_level × this
BLUR_CLEAR_RATIO = 1.5  # occluded clears above blur_threshold × this
RELEASE_FRAMES_MIN = 5  # a condition clears after at least this many good frames

Grey = npt.NDArray[np.uint8]


@dataclass
class Hysteresis:
    """A boolean condition with onset/release counts; :meth:`step` returns the new state on a change."""

    onset: int
    release: int
    active: bool = False
    _run: int = 0

    def step(self, bad: bool, good: bool) -> bool | None:
        """Feed one frame (``bad``: counts towards onset; ``good``: towards release)."""
        toward = good if self.active else bad
        if not toward:
            self._run = 0
            return None
        self._run += 1
        if self._run < (self.release if self.active else self.onset):
            return None
        self.active, self._run = not self.active, 0
        return self.active


def laplacian_variance(grey: Grey) -> float:
    """Variance of the 4-neighbour Laplacian (numpy; no OpenCV needed)."""
    g = grey.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


class HealthMonitor:
    """Per-camera health state; :meth:`update` once per frame with the downscaled grey frame."""

    def __init__(self, cfg: HealthConfig, camera_id: str) -> None:
        self.cfg = cfg
        self.camera_id = camera_id
        release = max(RELEASE_FRAMES_MIN, cfg.window_frames)
        self.states = {
            "frozen": Hysteresis(cfg.frozen_frames, RELEASE_FRAMES_MIN),
            "black": Hysteresis(cfg.window_frames, release),
            "occluded": Hysteresis(cfg.window_frames, release),
        }
        self._prev: Grey | None = None
        self._sharpness: deque[float] = deque(maxlen=max(1, cfg.window_frames))

    def update(self, grey: Grey, ts: str) -> list[HealthEvent]:
        """Health events raised by this frame (usually none)."""
        readings = self._readings(grey)
        events = []
        for name, (bad, good, detail) in readings.items():
            change = self.states[name].step(bad, good)
            if change is not None:
                events.append(HealthEvent(self.camera_id, name, change, detail, ts=ts))
        return events

    def _readings(self, grey: Grey) -> dict[str, tuple[bool, bool, str]]:
        frozen = self._prev is not None and self._prev.shape == grey.shape and (
            int(np.abs(self._prev.astype(np.int16) - grey.astype(np.int16)).max()) <= FROZEN_MAX_DIFF
        )
        self._prev = grey.copy()
        luma = float(grey.mean())
        black = luma < self.cfg.black_level
        self._sharpness.append(laplacian_variance(grey))
        sharp = float(np.mean(self._sharpness))
        low = sharp < self.cfg.blur_threshold and not black
        return {
            "frozen": (frozen, not frozen, "identical consecutive frames"),
            "black": (black, luma >= self.cfg.black_level * BLACK_CLEAR_RATIO, f"mean luma {luma:.1f}"),
            "occluded": (low, sharp >= self.cfg.blur_threshold * BLUR_CLEAR_RATIO,
                         f"variance of Laplacian {sharp:.1f}"),
        }

    def active(self) -> list[str]:
        return [name for name, st in self.states.items() if st.active]


__all__ = ["HealthMonitor", "Hysteresis", "laplacian_variance"]
