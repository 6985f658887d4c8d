"""When to start a global FL run: drift reports from cameras, a schedule, or nobody (pure).

Cameras report ``drift`` events (:class:`aiotwin.wire.DriftEvent`: once per episode, with the model
version they ran) through their gateway. :func:`decide` turns what the coordinator knows — the
recent reports, when the last run started, whether one is running — into a :class:`Decision`:

- never while a run is in flight, nor within ``cooldown_s`` of the last start (a run takes a
  while to reach the cameras as a new version; drift during that time is expected);
- **drift**: at least ``min_cameras`` distinct cameras (and ``min_fraction`` of the fleet, when
  its size is known) reported drift on the *current* version within ``window_s`` — one odd
  camera (a dirty lens, a roadwork) is a health matter, not a reason to retrain everyone;
- **schedule**: ``every_s`` after the last start, with or without drift (0 turns it off).

Nothing here does I/O or reads a clock: the caller passes ``now``. Wiring it to the gateways'
event stores is the fleet registry's job (a later issue); ``aiotwin-coordinator fl start`` stays
the manual trigger.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from aiotwin.fl import FlConfigError


@dataclass(frozen=True)
class DriftReport:
    """One camera's drift report as the coordinator sees it (``at``: seconds, the caller's clock)."""

    camera_id: str
    model_version: int
    divergence: float
    at: float


@dataclass(frozen=True)
class TriggerPolicy:
    """Thresholds of :func:`decide` (see the module docstring)."""

    min_cameras: int = 2
    min_fraction: float = 0.0
    window_s: float = 6 * 3600.0
    cooldown_s: float = 24 * 3600.0
    every_s: float = 0.0  # scheduled runs: 0 = off

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.min_cameras, bool) or not isinstance(self.min_cameras, int) or self.min_cameras < 1:
            problems.append(f"min-cameras must be an integer >= 1, got {self.min_cameras!r}")
        if not (isinstance(self.min_fraction, int | float) and 0.0 <= self.min_fraction <= 1.0):
            problems.append(f"min-fraction must be in [0, 1], got {self.min_fraction!r}")
        for key, value in (("window-s", self.window_s), ("cooldown-s", self.cooldown_s), ("every-s", self.every_s)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                problems.append(f"{key} must be a number >= 0, got {value!r}")
        if problems:
            raise FlConfigError("FL trigger policy", problems)


@dataclass(frozen=True)
class Decision:
    """Whether to start a run now, why (or why not), and the cameras whose drift counted."""

    start: bool
    reason: str
    cameras: tuple[str, ...] = ()


def decide(policy: TriggerPolicy, reports: Iterable[DriftReport], *, now: float, version: int,
           last_start: float | None, running: bool, fleet_size: int | None = None) -> Decision:
    """The decision at ``now`` for the fleet serving model ``version``."""
    if running:
        return Decision(False, "a run is in progress")
    since = math.inf if last_start is None else now - last_start
    if since < policy.cooldown_s:
        return Decision(False, f"cooling down: last run started {since:.0f} s ago (cooldown {policy.cooldown_s:g} s)")
    fresh = [r for r in reports if r.model_version == version and 0 <= now - r.at <= policy.window_s]
    cameras = tuple(sorted({r.camera_id for r in fresh}))
    needed = policy.min_cameras
    if fleet_size:
        needed = max(needed, math.ceil(policy.min_fraction * fleet_size))
    if len(cameras) >= needed:
        return Decision(True, f"drift on {len(cameras)} camera(s) running version {version} within "
                              f"{policy.window_s:g} s (needed {needed})", cameras)
    if policy.every_s > 0 and since >= policy.every_s:
        return Decision(True, "scheduled" if last_start is not None else "scheduled: no run yet", cameras)
    return Decision(False, f"drift on {len(cameras)} camera(s) of version {version}, needed {needed}", cameras)


__all__ = ["Decision", "DriftReport", "TriggerPolicy", "decide"]
