"""Errors of the model family and its training/export code.

Tree (below :class:`aiotwin.AiotwinError`)::

    ModelError                 base of errors raised by aiotwin.models
    ├── WeightsMismatch        set_weights got arrays of the wrong count, shape or dtype
    └── ModelBuildError        training or exporting a bundle failed (exit code MODEL_BUILD_FAILED)

A bad ``task = "package.module:Class"`` reference raises :class:`aiotwin.ConfigError`; a corrupt
bundle raises :class:`aiotwin.BundleError` / :class:`aiotwin.BundleIntegrityError`.
"""

from __future__ import annotations

from aiotwin._exceptions import AiotwinError


class ModelError(AiotwinError):
    """Base of errors raised by :mod:`aiotwin.models`."""


class WeightsMismatch(ModelError):
    """Weights handed to ``set_weights`` do not fit the model (count, shape or dtype)."""


class ModelBuildError(ModelError):
    """Training or exporting a model bundle failed."""


__all__ = ["ModelBuildError", "ModelError", "WeightsMismatch"]
