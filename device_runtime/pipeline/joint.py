"""Joint inference in the pipeline: unsure tracks ask the gateway, or become training samples.

After the edge model has voted on a frame's crops, every track whose label is still below the
offload threshold (and has no gateway answer yet) gets its crop cut again *through the privacy
filter* (:meth:`CameraPipeline.export_crop`; nothing unfiltered leaves the node, and a pipeline
without a filter offloads and keeps nothing). :meth:`Offloader.consider` decides; an offloaded
crop waits here until its answer comes back (then it is kept as a sample labelled by the gateway's
model: the best training data a camera gets), otherwise — the router's estimate did not fit the
budget, no router, no bytes left — the edge model keeps its answer and the crop is kept as a
sample labelled by the edge model (at most :data:`EDGE_SAMPLES_PER_TRACK` per track).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from aiotwin.geometry import Box
from device_runtime.offload.policy import Verdict
from device_runtime.pipeline.crops import TrackClassifier
from device_runtime.samples import Sample

if TYPE_CHECKING:
    from device_runtime.offload.client import Offloader
    from device_runtime.samples import SampleStore

_LOG = logging.getLogger("device_runtime.pipeline.joint")

EDGE_SAMPLES_PER_TRACK = 1
DEFAULT_THRESHOLD = 0.6  # without an offloader: crops under this confidence are kept as samples

Frame = npt.NDArray[np.uint8]


class CropExporter(Protocol):
    """What :class:`JointInference` needs of the pipeline."""

    @property
    def model_version(self) -> int: ...

    def export_crop(self, frame_bgr: Frame, box: Box) -> Frame | None: ...


class JointInference:
    """Per camera: offload decisions, crops waiting for answers, and what goes to the sample store."""

    def __init__(self, camera_id: str, offload: Offloader | None, samples: SampleStore | None) -> None:
        self.camera_id = camera_id
        self.offload = offload
        self.samples = samples
        self.threshold = offload.limits.threshold if offload is not None else DEFAULT_THRESHOLD
        self._waiting: dict[int, Frame] = {}  # track id -> privacy-released crop sent to the gateway
        self._sampled: dict[int, int] = {}  # track id -> edge-labelled samples kept

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

    def forget(self, live: set[int]) -> None:
        """Drop what is kept for tracks that ended (their answers, if any, come too late)."""
        for table in (self._waiting, self._sampled):
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


__all__ = ["EDGE_SAMPLES_PER_TRACK", "CropExporter", "JointInference"]
