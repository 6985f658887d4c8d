"""Give freed heap memory back to the OS after allocation peaks (glibc ``malloc_trim``).

glibc keeps freed memory in its arenas for reuse. After a peak, such as a synthetic camera drawing its
backdrop on the first frame, a decoder starting, or the first frames through a pipeline, tens of MB can
stay resident although nothing uses them (docs/device.md, memory). :func:`release_free_heap` hands the
free pages back. :class:`HeapTrimmer` calls it at a few points in a frame stream: the first frame,
the end of the warm-up, and then rarely, because memory that is still being churned is faulted in
again at once. Neither does anything where the C library has no ``malloc_trim`` (musl, macOS,
Windows).
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from typing import Any

_LOG = logging.getLogger(__name__)

SETTLE_FRAMES = 100  # the pipeline's start-up allocations (background model, first batches) are past
EVERY_FRAMES = 1500  # then once a minute at 25 fps


@functools.cache
def _malloc_trim() -> Callable[[int], Any] | None:
    try:
        fn = ctypes.CDLL(None).malloc_trim  # the C library already loaded in this process
    except (AttributeError, OSError, TypeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def release_free_heap() -> bool:
    """``malloc_trim(0)``: True when memory was handed back, False when none was or it is unavailable."""
    trim = _malloc_trim()
    if trim is None:
        return False
    return bool(trim(0))


class HeapTrimmer:
    """Counts the frames of one stream and trims the heap after frame 1, ``settle``, then every ``every``."""

    def __init__(self, settle: int = SETTLE_FRAMES, every: int = EVERY_FRAMES,
                 release: Callable[[], bool] = release_free_heap) -> None:
        if not 1 <= settle <= every:
            raise ValueError("need 1 <= settle <= every")
        self._settle, self._every, self._release = settle, every, release
        self.frames = 0
        self.trims = 0

    def frame(self) -> bool:
        """Note one frame; True when the heap was trimmed for it."""
        self.frames += 1
        n = self.frames
        if n not in (1, self._settle) and (n - self._settle) % self._every:
            return False
        self.trims += 1
        released = self._release()
        _LOG.debug("malloc_trim after frame %d: %s", n, "memory released" if released else "nothing released")
        return True


__all__ = ["EVERY_FRAMES", "SETTLE_FRAMES", "HeapTrimmer", "release_free_heap"]
