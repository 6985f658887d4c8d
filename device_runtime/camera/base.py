"""The transport-agnostic side of camera capture: the :class:`FrameSource` protocol and :class:`Frame`.

Bindings (:mod:`.opencv`, :mod:`.synthetic`) implement :class:`FrameSource`; :mod:`.capture` owns one
source in a thread. Nothing here imports OpenCV.

``read()`` contract:

- returns a BGR ``uint8`` H×W×3 image;
- returns ``None`` at the end of a finite source (a file), or, for a live source, when no frame is
  ready yet (the capture thread then counts the time towards a stall);
- raises :class:`~device_runtime.SourceError` when the source has failed: the capture thread
  releases it and opens a new one (an OpenCV capture never recovers after a failure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


class FrameSource(Protocol):
    """One opened camera, file or synthetic scene."""

    @property
    def is_live(self) -> bool:
        """True for cameras and streams (never end; failures mean reconnect), False for files."""
        ...

    @property
    def pace_fps(self) -> float | None:
        """Rate the capture thread paces reads at; None: the source paces itself or runs free."""
        ...

    def read(self) -> Image | None:
        """The next frame (see the module docstring for None and errors)."""
        ...

    def close(self) -> None:
        """Release the device, stream or file."""
        ...

    def describe(self) -> str:
        """A log-safe one-line description (credentials redacted)."""
        ...


@dataclass(frozen=True)
class Frame:
    """One captured image, stamped when it was read."""

    index: int  # 0, 1, 2, … per capture thread, continuous across reconnects
    ts_monotonic: float  # time.monotonic() at read: for intervals and latency
    ts_utc: datetime  # wall-clock UTC at read: for events
    image: Image


def redact_uri(uri: str) -> str:
    """``rtsp://user:pass@host/x`` → ``rtsp://***@host/x`` (STYLE rule 27: no secrets in logs)."""
    return _CREDENTIALS.sub("***@", uri)


__all__ = ["Frame", "FrameSource", "Image", "redact_uri"]
