"""Motion detection: a colour background model on a downscaled frame → boxes at full resolution.

The background is a running average of the frame shrunk by ``MotionConfig.downscale`` with
**selective update**: pixels under foreground are learned :data:`FOREGROUND_SLOWDOWN` times slower,
so a vehicle waiting at the line stays foreground for tens of seconds, while a ghost (something that
left) still heals. A pixel is foreground when its largest per-channel difference from the background
exceeds ``sqrt(var_threshold)`` noise sigmas (the sigma is estimated robustly from the frame's
median difference), so a green bus on grey asphalt of the same brightness is still seen. No shadow
detection: a cast shadow is part of its vehicle's blob.

The foreground mask is cleaned by an opening (rain, sensor noise) and a closing (fragments of one
vehicle), restricted to the region of interest minus the mask zones, and its external contours
become boxes, scaled back to full resolution and filtered by ``min_area``. Boxes that are mostly
inside a bigger box (a fragment of the same vehicle) are folded into it.

OpenCV is imported when a :class:`MotionDetector` is built, never at module import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.geometry import Box
from device_runtime.config import MotionConfig, Zone

OPEN_KERNEL_PX = 3  # opening kernel at motion resolution: removes rain streaks and single pixels
CLOSE_KERNEL_PX = 9  # closing kernel at motion resolution: joins fragments of one vehicle
BLUR_KERNEL_PX = 3  # light blur before subtraction (sensor noise, compression blocks)
FRAGMENT_CONTAINMENT = 0.7  # a box this much inside a bigger one is folded into it
WARMUP_FRAMES = 2  # the first frames only build the background model
FOREGROUND_SLOWDOWN = 20.0  # foreground pixels are learned this many times slower (selective update)
MIN_THRESHOLD = 14.0  # grey levels: the foreground threshold never drops below this
MAD_TO_SIGMA = 1.4826  # median absolute deviation → standard deviation of Gaussian noise
MIN_FILL = 0.3  # blobs filling less of their box are light pools, rain or edges, not objects
NOISE_EVERY = 10  # re-estimate the noise sigma every N frames

Mask = npt.NDArray[np.uint8]


def polygon_mask(shape: tuple[int, int], zones: Sequence[Zone], scale: float, fill: int) -> Mask:
    """A ``shape`` mask (h, w) with ``zones`` (full-resolution polygons) drawn at ``scale``."""
    import cv2

    mask = np.full(shape, 255 - fill, dtype=np.uint8)
    for zone in zones:
        pts = np.round(np.asarray(zone.polygon, dtype=np.float64) * scale).astype(np.int32)
        cv2.fillPoly(mask, [pts], fill)
    return mask


def region_mask(shape: tuple[int, int], roi: Zone | None, masks: Sequence[Zone], scale: float) -> Mask | None:
    """255 where motion counts: inside the ROI (whole frame without one), outside every mask zone."""
    if roi is None and not masks:
        return None
    out = polygon_mask(shape, [roi], scale, 255) if roi else np.full(shape, 255, dtype=np.uint8)
    if masks:
        out &= polygon_mask(shape, masks, scale, 0)
    return out


def _contained(inner: Box, outer: Box) -> float:
    iw = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    ih = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return iw * ih / area if area > 0 else 0.0


def fold_fragments(boxes: list[Box]) -> list[Box]:
    """Drop boxes mostly inside a bigger box, growing the bigger box to cover them."""
    ordered = sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    kept: list[Box] = []
    for box in ordered:
        for i, big in enumerate(kept):
            if _contained(box, big) >= FRAGMENT_CONTAINMENT:
                kept[i] = (min(big[0], box[0]), min(big[1], box[1]), max(big[2], box[2]), max(big[3], box[3]))
                break
        else:
            kept.append(box)
    return kept


class MotionDetector:
    """Stateful background model of one camera; :meth:`detect` once per frame."""

    def __init__(self, cfg: MotionConfig, *, roi: Zone | None = None, mask_zones: Sequence[Zone] = ()) -> None:
        import cv2

        self.cfg = cfg
        self._cv2: Any = cv2
        self._roi, self._masks = roi, tuple(mask_zones)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (OPEN_KERNEL_PX, OPEN_KERNEL_PX))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CLOSE_KERNEL_PX, CLOSE_KERNEL_PX))
        self._region: Mask | None = None
        self._shape: tuple[int, int] | None = None
        self._bg: npt.NDArray[np.float32] | None = None
        self._threshold = MIN_THRESHOLD
        self.frames = 0
        self.grey: Mask | None = None  # the last downscaled grey frame (health checks reuse it)
        self.foreground: Mask | None = None

    def detect(self, frame_bgr: npt.NDArray[np.uint8]) -> list[Box]:
        """Boxes ``(x1, y1, x2, y2)`` of moving blobs at full resolution."""
        small = self._small(frame_bgr)
        if self._bg is None or self._bg.shape != small.shape:
            self._bg = small.astype(np.float32)
        diff = self._difference(small)
        raw = self._cv2.threshold(diff, self._threshold, 255, self._cv2.THRESH_BINARY)[1]
        self._learn(small, raw)
        self.frames += 1
        if self.frames <= WARMUP_FRAMES:
            return []
        fg = self._clean(raw)
        self.foreground = fg
        return self._boxes(fg)

    def _small(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        cv2 = self._cv2
        h, w = frame.shape[:2]
        ds = max(1, self.cfg.downscale)
        small_shape = (h // ds, w // ds)
        if small_shape != self._shape:
            self._shape = small_shape
            self._region = region_mask(small_shape, self._roi, self._masks, small_shape[1] / w)
        small = frame
        if ds > 1:
            small = cv2.resize(frame, (small_shape[1], small_shape[0]), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (BLUR_KERNEL_PX, BLUR_KERNEL_PX), 0)
        self.grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return small  # type: ignore[no-any-return]

    def _difference(self, small: npt.NDArray[np.uint8]) -> Mask:
        """Largest per-channel absolute difference from the background; refreshes the threshold."""
        cv2 = self._cv2
        bg8 = cv2.convertScaleAbs(self._bg)
        b, g, r = cv2.split(cv2.absdiff(small, bg8))
        diff: Mask = cv2.max(cv2.max(b, g), r)
        if self.frames % NOISE_EVERY == 0:
            sigma = MAD_TO_SIGMA * float(np.median(diff[::4, ::4]))
            self._threshold = max(MIN_THRESHOLD, float(np.sqrt(self.cfg.var_threshold)) * sigma)
        return diff

    def _rate(self) -> float:
        if self.cfg.learning_rate >= 0:
            return self.cfg.learning_rate
        return 1.0 / min(self.frames + 1, max(1, self.cfg.history))

    def _learn(self, small: npt.NDArray[np.uint8], raw: Mask) -> None:
        cv2 = self._cv2
        rate = self._rate()
        still = cv2.bitwise_not(raw)
        cv2.accumulateWeighted(small, self._bg, rate, mask=still)
        cv2.accumulateWeighted(small, self._bg, rate / FOREGROUND_SLOWDOWN, mask=raw)

    def _clean(self, fg: Mask) -> Mask:
        cv2 = self._cv2
        if self._region is not None:
            fg = cv2.bitwise_and(fg, self._region)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._open)
        return cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._close)  # type: ignore[no-any-return]

    def _boxes(self, fg: Mask) -> list[Box]:
        cv2 = self._cv2
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        ds = max(1, self.cfg.downscale)
        boxes: list[Box] = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h * ds * ds >= self.cfg.min_area and cv2.contourArea(contour) >= MIN_FILL * w * h:
                boxes.append((float(x * ds), float(y * ds), float((x + w) * ds), float((y + h) * ds)))
        return fold_fragments(boxes)


__all__ = ["MotionDetector", "fold_fragments", "polygon_mask", "region_mask"]
