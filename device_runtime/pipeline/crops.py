"""Crops and classification: one batched engine call per frame, a confidence-weighted vote per track.

A track is classified on its first ``ClassifyConfig.first_k`` clear sightings and then once every
``every_m`` frames, so a stable track costs almost nothing. A sighting is *clear* when the track got
its own blob this frame (not merged with another vehicle, not coasting) and the box does not touch
the frame border (a vehicle half out of the picture is a poor crop). A track that has never had a
clear sighting is classified from a border crop, at a reduced weight, so it is never left without
a class.

The vote: each crop adds ``probs × confidence × quality`` (confidence = the crop's top
probability; quality = 1, or :data:`BORDER_WEIGHT` for a border crop); the track's class is the
arg-max of the sum and its confidence the arg-max's share of the summed weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from aiotwin.bundle import InputSpec
from aiotwin.geometry import Box
from aiotwin.models.preprocess import resize_crops
from device_runtime.config import ClassifyConfig
from device_runtime.pipeline.tracker import Track

BORDER_MARGIN_PX = 2.0  # a box this close to the frame edge is cut off by it
BORDER_WEIGHT = 0.2  # vote weight of a crop cut off by the frame border
MIN_CROP_PX = 4  # crops smaller than this (either side) are not worth classifying

Frame = npt.NDArray[np.uint8]


def padded(box: Box, pad: float, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
    """``box`` grown by ``pad`` × its size on every side, clipped to the frame, as integer pixels."""
    w, h = box[2] - box[0], box[3] - box[1]
    x1 = max(0, int(np.floor(box[0] - pad * w)))
    y1 = max(0, int(np.floor(box[1] - pad * h)))
    x2 = min(frame_w, int(np.ceil(box[2] + pad * w)))
    y2 = min(frame_h, int(np.ceil(box[3] + pad * h)))
    return x1, y1, x2, y2


def crop(frame: Frame, box: Box, pad: float) -> Frame | None:
    """A view of ``frame`` under the padded box, or None when it is too small."""
    x1, y1, x2, y2 = padded(box, pad, frame.shape[1], frame.shape[0])
    if x2 - x1 < MIN_CROP_PX or y2 - y1 < MIN_CROP_PX:
        return None
    return frame[y1:y2, x1:x2]


def touches_border(box: Box, frame_w: int, frame_h: int, margin: float = BORDER_MARGIN_PX) -> bool:
    return box[0] <= margin or box[1] <= margin or box[2] >= frame_w - margin or box[3] >= frame_h - margin


@dataclass
class Vote:
    """Accumulated, confidence-weighted class probabilities of one track."""

    scores: npt.NDArray[np.float64]
    weight: float = 0.0
    clear: int = 0  # clear crops classified so far
    crops: int = 0
    last_frame: int = -(10**9)
    remote: tuple[int, float, int] | None = None  # an offload answer: (class index, confidence, model version)

    def add(self, probs: npt.NDArray[np.float32], quality: float, frame: int, *, clear: bool) -> None:
        w = float(probs.max()) * quality
        self.scores += probs.astype(np.float64) * w
        self.weight += w
        self.crops += 1
        self.clear += int(clear)
        self.last_frame = frame

    def label(self) -> tuple[int, float] | None:
        """(class index, confidence in [0, 1]) or None before the first crop; an offload answer wins."""
        if self.remote is not None:
            return self.remote[0], self.remote[1]
        if self.weight <= 0:
            return None
        i = int(np.argmax(self.scores))
        return i, float(min(1.0, self.scores[i] / self.weight))


@dataclass
class CropBatch:
    """The crops chosen this frame, ready for one ``engine.classify`` call."""

    track_ids: list[int] = field(default_factory=list)
    clear: list[bool] = field(default_factory=list)
    batch: npt.NDArray[np.uint8] | None = None

    def __len__(self) -> int:
        return len(self.track_ids)


class TrackClassifier:
    """Chooses which tracks to classify this frame, batches their crops, and keeps the votes."""

    def __init__(self, cfg: ClassifyConfig, spec: InputSpec, n_classes: int) -> None:
        self.cfg = cfg
        self.spec = spec
        self.n_classes = n_classes
        self.votes: dict[int, Vote] = {}

    def wants(self, vote: Vote | None, clear: bool, frame: int) -> bool:
        """The policy: first K clear crops, then every M frames; border crops only while unlabelled."""
        if vote is None or vote.crops == 0:
            return True
        if not clear:
            return vote.clear == 0 and frame - vote.last_frame >= self.cfg.every_m
        if vote.clear < self.cfg.first_k:
            return True
        return frame - vote.last_frame >= self.cfg.every_m

    def prepare(self, frame: Frame, tracks: Sequence[Track], dets: Sequence[Box], index: int) -> CropBatch:
        """Crops of every track that needs classifying this frame, resized into one batch."""
        out, images = CropBatch(), []
        h, w = frame.shape[:2]
        for track in tracks:
            if track.det is None or track.state != "observed" or not track.confirmed:
                continue
            box = dets[track.det]
            clear = not touches_border(box, w, h)
            if not self.wants(self.votes.get(track.id), clear, index):
                continue
            image = crop(frame, box, self.cfg.padding)
            if image is not None:
                out.track_ids.append(track.id)
                out.clear.append(clear)
                images.append(image)
        if images:
            out.batch = resize_crops(images, self.spec, bgr=True)
        return out

    def apply(self, crops: CropBatch, probs: npt.NDArray[np.float32], index: int) -> None:
        """Add the engine's answers to the votes of their tracks."""
        for tid, clear, p in zip(crops.track_ids, crops.clear, probs, strict=True):
            vote = self.votes.setdefault(tid, Vote(np.zeros(self.n_classes, dtype=np.float64)))
            vote.add(p, 1.0 if clear else BORDER_WEIGHT, index, clear=clear)

    def label(self, track_id: int) -> tuple[int, float] | None:
        vote = self.votes.get(track_id)
        return vote.label() if vote else None

    def adopt(self, track_id: int, index: int, confidence: float, model_version: int) -> bool:
        """Take the gateway model's answer for a live track (False: the track has ended)."""
        vote = self.votes.get(track_id)
        if vote is None:
            return False
        vote.remote = (index, confidence, model_version)
        return True

    def remote_version(self, track_id: int) -> int | None:
        """The model version of the track's offload answer, None when its label is the edge model's."""
        vote = self.votes.get(track_id)
        return vote.remote[2] if vote is not None and vote.remote is not None else None

    def forget(self, live_ids: set[int]) -> None:
        """Drop the votes of tracks that no longer exist."""
        for tid in [t for t in self.votes if t not in live_ids]:
            del self.votes[tid]


__all__ = ["BORDER_WEIGHT", "CropBatch", "TrackClassifier", "Vote", "crop", "padded", "touches_border"]
