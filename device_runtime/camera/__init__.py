"""Camera sources and the capture thread.

Transport-agnostic parts (:mod:`.base`: the :class:`FrameSource` protocol and :class:`Frame`;
:mod:`.capture`: :class:`CaptureThread`) and thin bindings (:mod:`.opencv`: V4L2, files, RTSP/HTTP,
GStreamer; :mod:`.synthetic`: ``synthetic:`` scenes). :func:`open_source` picks the binding from the
source string. Importing this package imports neither cv2 nor the scene renderer.
"""

from device_runtime.camera._dispatch import ACCEPTED_FORMS, open_source, source_kind
from device_runtime.camera.base import Frame, FrameSource, redact_uri
from device_runtime.camera.capture import CaptureStats, CaptureThread, State, StateCallback

__all__ = [
    "ACCEPTED_FORMS", "CaptureStats", "CaptureThread", "Frame", "FrameSource", "State", "StateCallback",
    "open_source", "redact_uri", "source_kind",
]
