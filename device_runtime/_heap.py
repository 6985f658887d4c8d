"""Keep glibc from holding on to freed memory: a fixed mmap threshold and trims after peaks.

glibc serves large allocations with ``mmap`` and returns them to the OS on ``free``, but by default it
raises that threshold to the size of any large block freed (up to 32 MB). After that, large
temporaries (a synthetic camera's backdrop, the privacy filter's Haar windows over a big crop, ...)
come from the arenas, and the arenas keep the memory once it is freed. A camera node can hold tens of
MB that nothing uses (docs/device.md, memory). Two measures fight this:

- :func:`fit_mmap_threshold` fixes the threshold just above the camera frame size, and at least
  :data:`MIN_MMAP_THRESHOLD`. Frames, which are allocated and freed every frame, stay in the arenas
  and cost no page faults. Anything larger goes back to the OS when it is freed.
- :func:`release_free_heap` (``malloc_trim(0)``) hands back the free pages in the arenas.
  :class:`HeapTrimmer` calls it at a few points in a frame stream: the first frame, the end of the
  warm-up, and then rarely, because memory that is still being churned is faulted in again at once.

A ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` environment variable or a ``glibc.malloc``
entry in ``GLIBC_TUNABLES`` wins over :func:`fit_mmap_threshold`. Neither measure does anything where
the C library is not glibc (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

_LOG = logging.getLogger(__name__)

SETTLE_FRAMES = 100  # the pipeline's start-up allocations (background model, first batches) are past
EVERY_FRAMES = 1500  # then once a minute at 25 fps
MIN_MMAP_THRESHOLD = 4 * 1024 * 1024
FRAME_MARGIN = 1.25  # the threshold sits this far above the largest frame seen
M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
ENV_OVERRIDES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_lock = threading.Lock()
_threshold = 0  # what fit_mmap_threshold set last (0: not yet)


@functools.cache
def _libc_function(name: str) -> Callable[..., Any] | None:
    try:
        fn: Callable[..., Any] = getattr(ctypes.CDLL(None), name)  # the C library already loaded here
    except (AttributeError, OSError, TypeError):
        return None
    return fn


def release_free_heap() -> bool:
    """``malloc_trim(0)``: True when memory was handed back, False when none was or it is unavailable."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    return bool(trim(ctypes.c_size_t(0)))


def env_overrides(env: Mapping[str, str]) -> bool:
    """True when the environment already tunes glibc's thresholds (then it is left alone)."""
    return any(name in env for name in ENV_OVERRIDES) or "glibc.malloc" in env.get("GLIBC_TUNABLES", "")


def fit_mmap_threshold(frame_bytes: int, env: Mapping[str, str] = os.environ) -> int | None:
    """Fix the mmap threshold above ``frame_bytes`` (never lower than before); the threshold, or None if untouched.

    The trim threshold goes to twice the mmap threshold, as glibc's own adjustment would set it, so the
    top of the heap is not handed back and faulted in again every frame.
    """
    global _threshold  # noqa: PLW0603 - one process-wide setting, like mallopt itself
    mallopt = _libc_function("mallopt")
    if mallopt is None or env_overrides(env):
        return None
    want = max(MIN_MMAP_THRESHOLD, int(frame_bytes * FRAME_MARGIN))
    with _lock:
        if want <= _threshold:
            return _threshold
        if not (mallopt(ctypes.c_int(M_MMAP_THRESHOLD), ctypes.c_int(want))
                and mallopt(ctypes.c_int(M_TRIM_THRESHOLD), ctypes.c_int(2 * want))):
            return None
        _threshold = want
    _LOG.debug("malloc: mmap threshold %d bytes, trim threshold %d bytes", want, 2 * want)
    return want


class HeapTrimmer:
    """One frame stream's schedule: fit the threshold at frame 1; trim after 1, ``settle``, then every ``every``."""

    def __init__(self, settle: int = SETTLE_FRAMES, every: int = EVERY_FRAMES,
                 release: Callable[[], bool] = release_free_heap,
                 fit: Callable[[int], int | None] = fit_mmap_threshold) -> None:
        if not 1 <= settle <= every:
            raise ValueError("need 1 <= settle <= every")
        self._settle, self._every, self._release, self._fit = settle, every, release, fit
        self.frames = 0
        self.trims = 0

    def frame(self, nbytes: int = 0) -> bool:
        """Note one frame of ``nbytes``; True when the heap was trimmed for it."""
        self.frames += 1
        n = self.frames
        if n == 1:
            self._fit(nbytes)
        if n not in (1, self._settle) and (n - self._settle) % self._every:
            return False
        self.trims += 1
        released = self._release()
        _LOG.debug("malloc_trim after frame %d: %s", n, "memory released" if released else "nothing released")
        return True


__all__ = [
    "EVERY_FRAMES", "MIN_MMAP_THRESHOLD", "SETTLE_FRAMES", "HeapTrimmer", "env_overrides", "fit_mmap_threshold",
    "release_free_heap",
]
