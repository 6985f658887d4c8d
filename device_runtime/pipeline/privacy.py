"""The mandatory privacy filter for anything that leaves the node.

That is offloaded crops, training samples and snapshots alike.

:meth:`PrivacyFilter.release` returns a privacy-safe *copy* of an image, or ``None`` when the image
must not leave at all:

1. a full frame is refused unless ``PrivacyConfig.allow_full_frames``;
2. configured mask zones (full-frame polygons, shifted to the crop's origin) are filled solid;
3. faces and licence plates found by the :class:`RegionDetector` are blurred beyond recognition.

The default detector runs OpenCV's shipped Haar cascades (frontal face; Russian licence plate,
16 stages) with a numpy evaluator, because OpenCV 5 no longer has ``CascadeClassifier``; the XML
files are package data in ``device_runtime/pipeline/cascades/``. Tests inject a detector.

:attr:`PrivacyFilter.stats` counts faces and plates blurred and items released and refused, for
metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from device_runtime.config import PrivacyConfig, Zone

CASCADE_DIR = Path(__file__).resolve().parent / "cascades"
FACE_CASCADE = "haarcascade_frontalface_default.xml"
PLATE_CASCADE = "haarcascade_licence_plate_rus_16stages.xml"
MASK_FILL = 0  # solid black
BLUR_KERNEL_SHARE = 0.5  # Gaussian kernel side as a share of the region's larger side
MIN_BLUR_KERNEL = 5
REGION_PAD = 0.15  # blurred regions grow by this share of their size on every side
FACE_MIN_NEIGHBORS = 3
PLATE_MIN_NEIGHBORS = 2
SCALE_FACTOR = 1.1

Image = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]  # x, y, w, h


class RegionDetector(Protocol):
    """Finds regions to blur in a grey image; rectangles are ``(x, y, w, h)``."""

    def faces(self, grey: Image) -> list[Rect]: ...

    def plates(self, grey: Image) -> list[Rect]: ...


class HaarRegionDetector:
    """OpenCV's Haar cascades, loaded on first use."""

    def __init__(self, cascade_dir: Path = CASCADE_DIR) -> None:
        from device_runtime.pipeline import _haar

        self._haar = _haar
        self._face = _haar.load_cascade(cascade_dir / FACE_CASCADE)
        self._plate = _haar.load_cascade(cascade_dir / PLATE_CASCADE)

    def faces(self, grey: Image) -> list[Rect]:
        return self._haar.detect_multiscale(grey, self._face, scale_factor=SCALE_FACTOR,
                                            min_neighbors=FACE_MIN_NEIGHBORS)

    def plates(self, grey: Image) -> list[Rect]:
        return self._haar.detect_multiscale(grey, self._plate, scale_factor=SCALE_FACTOR,
                                            min_neighbors=PLATE_MIN_NEIGHBORS)


@dataclass
class PrivacyStats:
    faces_blurred: int = 0
    plates_blurred: int = 0
    released: int = 0
    refused: int = 0


def fill_zones(image: Image, zones: Sequence[Zone], origin: tuple[float, float]) -> None:
    """Fill ``zones`` (full-frame polygons) solid, in place, on an image whose top-left is ``origin``."""
    import cv2

    for zone in zones:
        pts = np.asarray(zone.polygon, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
        cv2.fillPoly(image, [np.round(pts).astype(np.int32)], (MASK_FILL,) * 3)


def blur_region(image: Image, rect: Rect) -> None:
    """Blur ``rect`` (grown by REGION_PAD) in place so that it cannot be read back."""
    import cv2

    x, y, w, h = rect
    px, py = int(w * REGION_PAD), int(h * REGION_PAD)
    x1, y1 = max(0, x - px), max(0, y - py)
    x2, y2 = min(image.shape[1], x + w + px), min(image.shape[0], y + h + py)
    if x2 <= x1 or y2 <= y1:
        return
    k = max(MIN_BLUR_KERNEL, int(max(x2 - x1, y2 - y1) * BLUR_KERNEL_SHARE)) | 1
    roi = image[y1:y2, x1:x2]
    small = cv2.resize(roi, (max(1, (x2 - x1) // 8), max(1, (y2 - y1) // 8)), interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)


class PrivacyFilter:
    """Makes images safe to leave the node; counts what it did."""

    def __init__(
        self, cfg: PrivacyConfig, mask_zones: Sequence[Zone] = (), *,
        detector: RegionDetector | None = None, frame_size: tuple[int, int] | None = None,
    ) -> None:
        self.cfg = cfg
        self.mask_zones = tuple(mask_zones)
        self.frame_size = frame_size  # (width, height): an image this size is a full frame
        self._detector = detector
        self.stats = PrivacyStats()

    @property
    def detector(self) -> RegionDetector:
        if self._detector is None:
            self._detector = HaarRegionDetector()
        return self._detector

    def release(self, image: Image, *, origin: tuple[float, float] = (0.0, 0.0),
                full_frame: bool = False) -> Image | None:
        """A filtered copy of ``image`` (top-left at ``origin`` in the frame), or None if refused."""
        if self._is_full_frame(image, full_frame) and not self.cfg.allow_full_frames:
            self.stats.refused += 1
            return None
        out = np.ascontiguousarray(image).copy()
        fill_zones(out, self.mask_zones, origin)
        self._blur_detections(out)
        self.stats.released += 1
        return out

    def _is_full_frame(self, image: Image, flagged: bool) -> bool:
        if flagged:
            return True
        return self.frame_size is not None and (image.shape[1], image.shape[0]) == self.frame_size

    def _blur_detections(self, image: Image) -> None:
        if not (self.cfg.blur_faces or self.cfg.blur_plates):
            return
        import cv2

        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.cfg.blur_faces:
            faces = self.detector.faces(grey)
            for rect in faces:
                blur_region(image, rect)
            self.stats.faces_blurred += len(faces)
        if self.cfg.blur_plates:
            plates = self.detector.plates(grey)
            for rect in plates:
                blur_region(image, rect)
            self.stats.plates_blurred += len(plates)


__all__ = [
    "CASCADE_DIR", "HaarRegionDetector", "PrivacyFilter", "PrivacyStats", "RegionDetector", "blur_region",
    "fill_zones",
]
