"""OpenCV binding: V4L2 devices, video files, RTSP/HTTP streams (FFmpeg) and GStreamer pipelines.

Network streams open with both FFmpeg timeouts set and TCP transport, because without them a frozen
server blocks every ``read()`` for 30 s and the first frame takes ~2 s instead of ~0.7 s
(measurements in /work/shared/reference/camera-sources.md). ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` is set
before opening unless the operator already set it (their value wins).

The PyPI OpenCV wheel has no GStreamer: a pipeline string raises :class:`SourceUnsupported` with what
to do instead. cv2 is imported inside the functions that open a source.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from device_runtime._exceptions import SourceError, SourceUnsupported
from device_runtime.camera.base import Image, redact_uri

# camera-sources.md: 5 s open and read timeouts gave the first frame in 0.72 s and bounded a frozen
# server's reads (default: 30 s each).
OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 5000
# camera-sources.md: TCP interleaving (no UDP loss/NAT trouble) and a short probe for a quick first frame.
FFMPEG_CAPTURE_OPTIONS = "rtsp_transport;tcp|analyzeduration;500000|probesize;32768"
FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
NO_GSTREAMER = (
    "this OpenCV build has no GStreamer; on Jetson use JetPack's system OpenCV (built with GStreamer: "
    "create the venv with --system-site-packages and do not install opencv-python-headless), or give "
    "a V4L2 device (/dev/videoN) or an RTSP URL instead of a pipeline"
)
_GST_LINE = re.compile(r"^\s*GStreamer:\s*(\S+)", re.MULTILINE)


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise SourceUnsupported("camera sources need OpenCV: pip install 'aiotwin[infer]'") from exc
    return cv2


def has_gstreamer(build_information: str | None = None) -> bool:
    """Whether OpenCV was built with GStreamer (from ``cv2.getBuildInformation()``)."""
    info = _cv2().getBuildInformation() if build_information is None else build_information
    match = _GST_LINE.search(info)
    return bool(match and match.group(1).upper().startswith("YES"))


class OpenCvSource:
    """A ``cv2.VideoCapture``; see :class:`device_runtime.camera.FrameSource`."""

    def __init__(self, cap: Any, description: str, *, live: bool, pace_fps: float | None = None) -> None:
        self._cap: Any = cap
        self._description = description
        self._live = live
        self._pace_fps = pace_fps

    @property
    def is_live(self) -> bool:
        return self._live

    @property
    def pace_fps(self) -> float | None:
        return self._pace_fps

    def read(self) -> Image | None:
        if self._cap is None:
            raise SourceError(f"{self._description}: source is closed")
        try:
            ok, frame = self._cap.read()
        except Exception as exc:  # cv2.error and friends from the native side
            raise SourceError(f"{self._description}: read failed: {exc}") from exc
        if ok and frame is not None:
            return frame  # type: ignore[no-any-return]
        if not self._live:
            return None
        raise SourceError(f"{self._description}: no frame (stream lost or read timed out)")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def describe(self) -> str:
        return self._description


def _opened(cap: Any, description: str, hint: str) -> Any:
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{description}: cannot open ({hint})")
    return cap


def open_network(url: str) -> OpenCvSource:
    """``rtsp://``, ``rtsps://``, ``http(s)://`` (MJPEG, HLS…) through FFmpeg with both timeouts."""
    cv2 = _cv2()
    os.environ.setdefault(FFMPEG_OPTIONS_ENV, FFMPEG_CAPTURE_OPTIONS)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
    description = redact_uri(url)
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    _opened(cap, description, "is the camera reachable and the URL/credentials right?")
    return OpenCvSource(cap, description, live=True)


def open_device(device: int | str) -> OpenCvSource:
    """A V4L2 camera: index ``0`` or ``/dev/videoN``."""
    cv2 = _cv2()
    description = f"v4l2:{device}"
    cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
    _opened(cap, description, "does the device exist, and may this user open it (group 'video')?")
    return OpenCvSource(cap, description, live=True)


def open_file(path: str, *, fps: float | None = None) -> OpenCvSource:
    """A video file, read to its end; paced at ``fps`` by the capture thread when given."""
    cv2 = _cv2()
    description = f"file:{path}"
    if not Path(path).is_file():
        raise SourceError(f"{description}: no such file")
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    _opened(cap, description, "is it a video OpenCV's FFmpeg can decode?")
    return OpenCvSource(cap, description, live=False, pace_fps=fps or None)


def open_gstreamer(pipeline: str) -> OpenCvSource:
    """A GStreamer pipeline ending in ``appsink`` (CSI cameras on Jetson), when OpenCV has GStreamer."""
    if not has_gstreamer():
        raise SourceUnsupported(NO_GSTREAMER)
    cv2 = _cv2()
    description = f"gstreamer:{redact_uri(pipeline)}"
    cap = cv2.VideoCapture(pipeline, cv2.CAP_GSTREAMER)
    _opened(cap, description, "does the pipeline end in appsink and run with gst-launch-1.0?")
    return OpenCvSource(cap, description, live=True)


__all__ = [
    "FFMPEG_CAPTURE_OPTIONS", "FFMPEG_OPTIONS_ENV", "NO_GSTREAMER", "OPEN_TIMEOUT_MS", "READ_TIMEOUT_MS",
    "OpenCvSource", "has_gstreamer", "open_device", "open_file", "open_gstreamer", "open_network",
]
