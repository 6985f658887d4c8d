"""``open_source(uri)``: pick the binding from the form of the source string (pure classification first)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from device_runtime._exceptions import SourceError
from device_runtime.camera.base import FrameSource, redact_uri

SourceKind = Literal["synthetic", "gstreamer", "network", "device", "file"]
ACCEPTED_FORMS = (
    "a V4L2 device ('0' or '/dev/video0'), a video file path, 'rtsp://…' / 'rtsps://…' / 'http(s)://…', "
    "a GStreamer pipeline ('… ! appsink') or 'synthetic:CAMERA?seed=N'"
)
_NETWORK = ("rtsp://", "rtsps://", "http://", "https://")
_DEVICE = re.compile(r"^(\d+|/dev/video\d+)$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def source_kind(uri: str) -> SourceKind:
    """Classify a source string; :class:`SourceError` naming the accepted forms when it is none of them."""
    text = uri.strip()
    if not text:
        raise SourceError(f"empty camera source; accepted forms: {ACCEPTED_FORMS}")
    if text.startswith("synthetic:"):
        return "synthetic"
    if "!" in text:
        return "gstreamer"
    if text.lower().startswith(_NETWORK):
        return "network"
    if _DEVICE.match(text):
        return "device"
    if text.startswith("file://") or not _SCHEME.match(text):
        return "file"
    raise SourceError(f"unsupported camera source {redact_uri(text)!r}; accepted forms: {ACCEPTED_FORMS}")


def open_source(uri: str, *, fps: float | None = None) -> FrameSource:
    """Open ``uri`` with the binding its form calls for.

    ``fps`` paces files and synthetic cameras in the capture thread (synthetic cameras default to their
    own fps; ``0`` runs them unpaced). Live cameras pace themselves. Raises :class:`SourceError`
    (:class:`SourceUnsupported` when this install cannot open that kind at all).
    """
    from device_runtime.camera import opencv

    kind = source_kind(uri)
    text = uri.strip()
    if kind == "synthetic":
        from device_runtime.camera.synthetic import open_synthetic

        return open_synthetic(text, fps=fps)
    if kind == "gstreamer":
        return opencv.open_gstreamer(text)
    if kind == "network":
        return opencv.open_network(text)
    if kind == "device":
        return opencv.open_device(int(text) if text.isdigit() else text)
    path = text.removeprefix("file://")
    if not Path(path).is_file():
        raise SourceError(f"camera source {path!r} is not a file; accepted forms: {ACCEPTED_FORMS}")
    return opencv.open_file(path, fps=fps)


__all__ = ["ACCEPTED_FORMS", "SourceKind", "open_source", "source_kind"]
