"""Joint inference in the pipeline: unsure tracks ask the gateway, or become training samples.

After the edge model has voted on a frame's crops, every track whose label is still below the
offload threshold (and has no gateway answer yet) gets its crop cut again *through the privacy
filter* (:meth:`CameraPipeline.export_crop`; nothing unfiltered leaves the node, and a pipeline
without a filter offloads and keeps nothing). :meth:`Offloader.consider` decides; an offloaded
crop waits here until its answer comes back (then it is kept as a sample labelled by the gateway's
model: the best training data a camera gets), otherwise — the router's estimate did not fit the
budget, no router, no bytes left — the edge model keeps its answer and the crop is kept as a
sample labelled by the edge model (at most :data:`EDGE_SAMPLES_PER_TRACK` per track).

The other end: when a track the edge model is sure of (voted confidence ≥
:attr:`PseudoLabels.threshold`) is counted, its crop at the line is kept as a *pseudo-labelled*
sample (``label_source = "pseudo"``), at most one per track and :attr:`PseudoLabels.per_minute` per
camera (sliding minute, injected clock). Tracks already sampled or offloaded are skipped.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from aiotwin.geometry import Box
from device_runtime.config import DEFAULT_PSEUDO_LABEL_THRESHOLD, DEFAULT_PSEUDO_LABELS_PER_MINUTE
from device_runtime.offload.policy import Verdict
from device_runtime.pipeline.crops import TrackClassifier
from device_runtime.samples import Sample

if TYPE_CHECKING:
    from device_runtime.offload.client import Offloader
    from device_runtime.samples import SampleStore

_LOG = logging.getLogger("device_runtime.pipeline.joint")

EDGE_SAMPLES_PER_TRACK = 1
DEFAULT_THRESHOLD = 0.6  # without an offloader: crops under this confidence are kept as samples
RATE_WINDOW_S = 60.0  # pseudo-labels are limited per sliding minute

Frame = npt.NDArray[np.uint8]
Counted = tuple[int, Box, str, float]  # a counted track: id, box this frame, voted label, confidence


@dataclass(frozen=True)
class PseudoLabels:
    """Which counted tracks become pseudo-labelled samples (``[samples]`` in device.toml)."""

    threshold: float = DEFAULT_PSEUDO_LABEL_THRESHOLD
    per_minute: int = DEFAULT_PSEUDO_LABELS_PER_MINUTE  # 0: none
    clock: Callable[[], float] = time.monotonic


class RateLimit:
    """At most ``per_window`` takes in any ``window_s`` seconds (a sliding window over an injected clock)."""

    def __init__(self, per_window: int, clock: Callable[[], float], window_s: float = RATE_WINDOW_S) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque()

    def ready(self) -> bool:
        """Whether a take would be allowed now (nothing is used up)."""
        now = self._clock()
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        return len(self._times) < self.per_window

    def take(self) -> None:
        self._times.append(self._clock())


class CropExporter(Protocol):
    """What :class:`JointInference` needs of the pipeline."""

    @property
    def model_version(self) -> int: ...

    def export_crop(self, frame_bgr: Frame, box: Box) -> Frame | None: ...


class JointInference:
    """Per camera: offload decisions, crops waiting for answers, and what goes to the sample store."""

    def __init__(self, camera_id: str, offload: Offloader | None, samples: SampleStore | None, *,
                 pseudo: PseudoLabels | None = None) -> None:
        self.camera_id = camera_id
        self.offload = offload
        self.samples = samples
        self.threshold = offload.limits.threshold if offload is not None else DEFAULT_THRESHOLD
        self.pseudo = pseudo if pseudo is not None and pseudo.per_minute > 0 else None
        self._rate = RateLimit(self.pseudo.per_minute, self.pseudo.clock) if self.pseudo is not None else None
        self._waiting: dict[int, Frame] = {}  # track id -> privacy-released crop sent to the gateway
        self._sampled: dict[int, int] = {}  # track id -> edge-labelled samples kept
        self._pseudo: dict[int, int] = {}  # track id -> pseudo-labelled samples kept (at most 1)

    def collect(self, classifier: TrackClassifier, labels: Sequence[str]) -> None:
        """Adopt the gateway's answers that arrived (called before the frame's own classification)."""
        if self.offload is None:
            return
        for answer in self.offload.answers(self.camera_id):
            label, score = answer.best()
            crop = self._waiting.pop(answer.track_id, None)
            if label not in labels:
                _LOG.warning("gateway answered unknown label %r for track %d; ignored", label, answer.track_id)
                continue
            if classifier.adopt(answer.track_id, labels.index(label), score, answer.model_version) and crop is not None:
                self._keep(crop, Sample(self.camera_id, answer.track_id, label, "offload", score, "offload-answer",
                                        answer.model_version))

    def consider(self, pipe: CropExporter, frame: Frame, tracks: Iterable[tuple[int, Box]],
                 classifier: TrackClassifier, labels: Sequence[str]) -> None:
        """Offload or sample the tracks classified this frame whose label is still unsure."""
        for track_id, box in tracks:
            label = classifier.label(track_id)
            if label is None or label[1] >= self.threshold or classifier.remote_version(track_id) is not None:
                continue
            if track_id in self._waiting or (self.offload is None
                                             and self._sampled.get(track_id, 0) >= EDGE_SAMPLES_PER_TRACK):
                continue
            crop = pipe.export_crop(frame, box)
            if crop is None:
                continue
            verdict = (self.offload.consider(self.camera_id, track_id, crop, label[1]) if self.offload is not None
                       else Verdict.NO_ESTIMATE)
            if verdict.offloads:
                self._waiting[track_id] = crop.copy()
            elif verdict.keeps_sample and self._sampled.get(track_id, 0) < EDGE_SAMPLES_PER_TRACK:
                self._sampled[track_id] = self._sampled.get(track_id, 0) + 1
                self._keep(crop, Sample(self.camera_id, track_id, labels[label[0]], "edge", label[1], verdict.value,
                                        pipe.model_version))

    def pseudo_label(self, pipe: CropExporter, frame: Frame, counted: Iterable[Counted]) -> None:
        """Keep the crop of each counted track the edge model is sure of (rate-limited, one per track)."""
        if self.pseudo is None or self._rate is None or self.samples is None:
            return
        for track_id, box, label, confidence in counted:
            if confidence < self.pseudo.threshold or any(track_id in t for t in (self._pseudo, self._sampled,
                                                                                   self._waiting)):
                continue
            if not self._rate.ready():
                return
            crop = pipe.export_crop(frame, box)
            if crop is None:
                continue
            self._rate.take()
            self._pseudo[track_id] = 1
            self._keep(crop, Sample(self.camera_id, track_id, label, "pseudo", confidence, "pseudo-label",
                                    pipe.model_version))

    def forget(self, live: set[int]) -> None:
        """Drop what is kept for tracks that ended (their answers, if any, come too late)."""
        for table in (self._waiting, self._sampled, self._pseudo):
            for tid in [t for t in table if t not in live]:
                del table[tid]
        if self.offload is not None:
            self.offload.forget(self.camera_id, list(live))

    def _keep(self, crop: Frame, sample: Sample) -> None:
        if self.samples is None:
            return
        try:
            self.samples.add(crop, sample)
        except Exception as exc:
            _LOG.warning("sample not kept: %s", exc)


__all__ = ["EDGE_SAMPLES_PER_TRACK", "RATE_WINDOW_S", "Counted", "CropExporter", "JointInference", "PseudoLabels",
           "RateLimit"]
