"""Drift of the edge model's predictions on one camera: a pure detector with an injected clock.

What is compared
----------------
Every crop the edge model classifies is one *prediction*: its top class and that class's
probability (the confidence). Two histograms describe a run of predictions: classes (one bin per
model label) and confidences (``confidence_bins`` equal bins over [0, 1]).

- **Reference**: the first ``reference`` predictions after a model version starts running on this
  camera. It is kept (:func:`save_reference`) so that a restart compares with the same reference,
  not with whatever the camera sees after the restart. A new model version starts a new reference.
- **Window**: the most recent ``window`` predictions (sliding, updated in O(1) per prediction).

Divergence
----------
Both histograms are turned into shares with additive smoothing (:data:`SMOOTHING` counts per bin,
so an empty bin never makes a logarithm infinite) and compared with

- ``psi``, the population stability index ``Σ (wᵢ − rᵢ) ln(wᵢ / rᵢ)`` (symmetric KL divergence). The
  usual reading: < 0.1 stable, 0.1–0.25 moderate, > 0.25 a significant shift (default threshold);
- ``js``, the Jensen–Shannon divergence in nats (bounded by ln 2 ≈ 0.693).

Episodes
--------
Once the window is full, the detector reports (:class:`DriftReport`) when either divergence reaches
``threshold``, then stays quiet for the rest of that *episode*: the episode ends only when both
divergences fall below ``threshold × clear_ratio`` (hysteresis), and a new episode is reported no
sooner than ``cooldown_s`` after the last report (a drift that comes and goes around the threshold
is reported once). The daemon turns a report into a :class:`~aiotwin.wire.DriftEvent`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiotwin.wire import DriftDistribution, DriftEvent, DriftMetric
from device_runtime.config import DriftConfig

_LOG = logging.getLogger(__name__)

DRIFT_DIR = "drift"  # under the data dir: one stored reference per camera, <camera id>.json
SMOOTHING = 0.5  # counts added to every bin (Jeffreys prior): empty bins stay finite in the logs
REFERENCE_FORMAT = 1  # of the stored reference file

Prediction = tuple[int, float]  # (class index, confidence)


def shares(counts: Sequence[int], smoothing: float = SMOOTHING) -> list[float]:
    """Histogram ``counts`` as shares summing to 1, with ``smoothing`` added to every bin."""
    total = sum(counts) + smoothing * len(counts)
    return [(c + smoothing) / total for c in counts]


def psi(p: Sequence[float], q: Sequence[float]) -> float:
    """Population stability index of shares ``q`` against ``p`` (both > 0, same length)."""
    return sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))


def js(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen–Shannon divergence (nats) between shares ``p`` and ``q``."""
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    return 0.5 * sum(a * math.log(a / c) for a, c in zip(p, m, strict=True) if a > 0) + \
        0.5 * sum(b * math.log(b / c) for b, c in zip(q, m, strict=True) if b > 0)


DIVERGENCES: dict[str, Callable[[Sequence[float], Sequence[float]], float]] = {"psi": psi, "js": js}


def confidence_bin(confidence: float, bins: int) -> int:
    """The equal-width bin of ``confidence`` (clamped to [0, 1]; 1.0 falls in the last bin)."""
    if not confidence >= 0.0:  # also NaN
        return 0
    return min(bins - 1, int(confidence * bins))


@dataclass(frozen=True)
class DriftParams:
    """The detector's settings (``[drift]`` in device.toml) and the model's number of classes."""

    n_classes: int
    metric: Literal["psi", "js"] = "psi"
    reference: int = 1000
    window: int = 500
    threshold: float = 0.25
    clear_ratio: float = 0.5
    cooldown_s: float = 3600.0
    confidence_bins: int = 10

    @classmethod
    def from_config(cls, cfg: DriftConfig, n_classes: int) -> DriftParams:
        return cls(n_classes, cfg.metric, cfg.reference, cfg.window, cfg.threshold, cfg.clear_ratio, cfg.cooldown_s,
                   cfg.confidence_bins)


@dataclass(frozen=True)
class Reference:
    """The reference histograms of one model version on one camera."""

    model_version: int
    classes: tuple[int, ...]
    confidence: tuple[int, ...]

    @property
    def size(self) -> int:
        return sum(self.classes)

    def fits(self, params: DriftParams) -> bool:
        """Whether this reference can be compared under ``params`` (same bins, enough predictions)."""
        return (len(self.classes) == params.n_classes and len(self.confidence) == params.confidence_bins
                and self.size >= params.reference)


@dataclass(frozen=True)
class DriftReport:
    """One drift episode's onset: what moved, by how much, against what."""

    model_version: int
    distribution: DriftDistribution
    class_divergence: float
    confidence_divergence: float
    metric: DriftMetric
    threshold: float
    reference_size: int
    window_size: int

    @property
    def divergence(self) -> float:
        return max(self.class_divergence, self.confidence_divergence)

    def event(self, camera_id: str) -> DriftEvent:
        """The wire event of this report."""
        return DriftEvent(camera_id=camera_id, model_version=self.model_version, distribution=self.distribution,
                          divergence=self.divergence, class_divergence=self.class_divergence,
                          confidence_divergence=self.confidence_divergence, metric=self.metric,
                          threshold=self.threshold, reference_size=self.reference_size,
                          window_size=self.window_size)


@dataclass
class _Histograms:
    classes: list[int]
    confidence: list[int]
    items: deque[tuple[int, int]] = field(default_factory=deque)

    def add(self, cls: int, b: int) -> None:
        self.classes[cls] += 1
        self.confidence[b] += 1
        self.items.append((cls, b))

    def drop_oldest(self) -> None:
        cls, b = self.items.popleft()
        self.classes[cls] -= 1
        self.confidence[b] -= 1


class DriftDetector:
    """Reference, sliding window and episode state of one camera; see the module docstring.

    ``reference``: a stored reference (used when its model version is the one running);
    ``on_reference``: called with each reference the detector completes (to store it).
    """

    def __init__(self, params: DriftParams, *, reference: Reference | None = None,
                 on_reference: Callable[[Reference], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.params = params
        self._stored = reference if reference is not None and reference.fits(params) else None
        self._on_reference = on_reference
        self._clock = clock
        self._version: int | None = None
        self.reference: Reference | None = None
        self._building = self._empty()
        self._window = self._empty()
        self.divergences: tuple[float, float] | None = None  # (classes, confidence) of the last full window
        self.active = False
        self._last_report: float | None = None

    def _empty(self) -> _Histograms:
        return _Histograms([0] * self.params.n_classes, [0] * self.params.confidence_bins)

    def update(self, predictions: Iterable[Prediction], model_version: int) -> DriftReport | None:
        """Add one frame's predictions of model ``model_version``; a report when an episode starts."""
        if model_version != self._version:
            self._restart(model_version)
        for cls, confidence in predictions:
            if 0 <= cls < self.params.n_classes:
                self._add(cls, confidence_bin(confidence, self.params.confidence_bins))
        return self._judge()

    def _restart(self, version: int) -> None:
        self._version = version
        stored = self._stored
        self.reference = stored if stored is not None and stored.model_version == version else None
        self._building, self._window = self._empty(), self._empty()
        self.divergences, self.active, self._last_report = None, False, None

    def _add(self, cls: int, b: int) -> None:
        if self.reference is None:
            self._building.add(cls, b)
            if len(self._building.items) >= self.params.reference:
                self._complete_reference()
            return
        self._window.add(cls, b)
        if len(self._window.items) > self.params.window:
            self._window.drop_oldest()

    def _complete_reference(self) -> None:
        assert self._version is not None
        self.reference = Reference(self._version, tuple(self._building.classes), tuple(self._building.confidence))
        self._stored = self.reference
        self._building = self._empty()
        if self._on_reference is not None:
            self._on_reference(self.reference)

    def _judge(self) -> DriftReport | None:
        ref, p = self.reference, self.params
        if ref is None or len(self._window.items) < p.window:
            return None
        measure = DIVERGENCES[p.metric]
        dc = measure(shares(ref.classes), shares(self._window.classes))
        dq = measure(shares(ref.confidence), shares(self._window.confidence))
        self.divergences = (dc, dq)
        if self.active:
            self.active = max(dc, dq) >= p.threshold * p.clear_ratio
            return None
        if max(dc, dq) < p.threshold or self._cooling():
            return None
        self.active, self._last_report = True, self._clock()
        moved: DriftDistribution = ("both" if min(dc, dq) >= p.threshold
                                    else "classes" if dc >= p.threshold else "confidence")
        return DriftReport(ref.model_version, moved, dc, dq, p.metric, p.threshold, ref.size, len(self._window.items))

    def _cooling(self) -> bool:
        return self._last_report is not None and self._clock() - self._last_report < self.params.cooldown_s


# -- the stored reference (the only I/O here; callers run it off the event loop) -----------------

def reference_to_json(ref: Reference) -> dict[str, object]:
    return {"format": REFERENCE_FORMAT, "model_version": ref.model_version, "classes": list(ref.classes),
            "confidence": list(ref.confidence)}


def _counts(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                              for v in value):
        raise ValueError("expected a list of counts")
    return tuple(value)


def reference_from_json(obj: object) -> Reference:
    """Parse a stored reference; ``ValueError`` when it is malformed or of another format."""
    if not isinstance(obj, dict) or obj.get("format") != REFERENCE_FORMAT:
        raise ValueError(f"not a drift reference of format {REFERENCE_FORMAT}")
    version = obj.get("model_version")
    if type(version) is not int:
        raise ValueError("model_version: expected an integer")
    return Reference(version, _counts(obj.get("classes")), _counts(obj.get("confidence")))


def load_reference(path: Path) -> Reference | None:
    """The reference stored at ``path``; None when there is none. ``ValueError``/``OSError`` when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return reference_from_json(json.loads(text))


def save_reference(path: Path, ref: Reference) -> None:
    """Write ``ref`` to ``path`` atomically (a temp file renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(reference_to_json(ref)), encoding="utf-8")
    tmp.replace(path)


def stored_detector(params: DriftParams, path: Path, *,
                    clock: Callable[[], float] = time.monotonic) -> DriftDetector:
    """A detector that starts from the reference stored at ``path`` (if any) and stores each new one there.

    Blocking (reads and later writes ``path``): build it off the event loop. A reference that cannot
    be read is logged and replaced; one that cannot be written is logged (the detector keeps it in memory).
    """
    try:
        stored = load_reference(path)
    except (OSError, ValueError) as exc:
        _LOG.warning("drift reference %s is unreadable, building a new one: %s", path, exc)
        stored = None

    def store(ref: Reference) -> None:
        try:
            save_reference(path, ref)
        except OSError as exc:
            _LOG.warning("drift reference not stored at %s: %s", path, exc)

    return DriftDetector(params, reference=stored, on_reference=store, clock=clock)


__all__ = [
    "DIVERGENCES", "DRIFT_DIR", "SMOOTHING", "DriftDetector", "DriftParams", "DriftReport", "Prediction", "Reference",
    "confidence_bin", "js", "load_reference", "psi", "reference_from_json", "reference_to_json", "save_reference",
    "shares", "stored_detector",
]
