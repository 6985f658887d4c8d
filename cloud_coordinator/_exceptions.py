"""Errors of the cloud coordinator.

Tree::

    AiotwinError
    └── CoordinatorError          base of the coordinator's own errors
        ├── CoordinatorNotRunning no coordinator serves this work dir (``aiotwin-coordinator start``)
        ├── FlRunNotFound         no FL run with that id under the work dir
        └── ModelStoreError       the model store cannot be opened, read or written
            ├── ModelNotFound     no published bundle with that name and version
            ├── ModelVersionExists that name and version hold another run's bundle already
            └── BundleRejected    a bundle to publish does not load or fails its sha256 checks

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


class ModelStoreError(CoordinatorError):
    """The model store (``<work>/models``) cannot be opened, read or written."""


class ModelNotFound(ModelStoreError):
    """No bundle with the given name and version is published in the model store."""


class ModelVersionExists(ModelStoreError):
    """The name and version are taken by a bundle of another run or round (a version is never reused)."""


class BundleRejected(ModelStoreError):
    """A bundle handed to the store does not load with :func:`aiotwin.bundle.load_bundle` or fails its checks."""


__all__ = ["BundleRejected", "CoordinatorError", "CoordinatorNotRunning", "FlRunNotFound", "ModelNotFound",
           "ModelStoreError", "ModelVersionExists"]
