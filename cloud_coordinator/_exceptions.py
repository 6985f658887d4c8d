"""Errors of the cloud coordinator.

Tree::

    AiotwinError
    └── CoordinatorError          base of the coordinator's own errors
        ├── CoordinatorNotRunning no coordinator serves this work dir (``aiotwin-coordinator start``)
        └── FlRunNotFound         no FL run with that id under the work dir

Errors of the FL machinery itself are :class:`aiotwin.fl.FlError` (bad config: ``FlConfigError``;
Flower processes: ``aiotwin.flower.FlowerError``).
"""

from __future__ import annotations

from aiotwin._exceptions import AiotwinError


class CoordinatorError(AiotwinError):
    """Base of the coordinator's errors."""


class CoordinatorNotRunning(CoordinatorError):
    """No coordinator daemon serves the work dir (its ServerApp heartbeat is missing or stale)."""


class FlRunNotFound(CoordinatorError):
    """No FL run with the given id exists under the work dir."""


__all__ = ["CoordinatorError", "CoordinatorNotRunning", "FlRunNotFound"]
