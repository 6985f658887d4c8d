"""The task interface: how a model plugs into training, federated learning and export.

A task is named in config as ``task = "package.module:Class"`` and resolved with
:func:`load_task`. Everything that trains a model (``aiotwin models build``, the FL clients and
aggregators) goes through :class:`Task` only, so another model family plugs in by writing one
class. Weights travel as a list of numpy arrays in a fixed order (the Flower convention); model
versions are integers.

Training data comes from a :class:`SampleStore`: anything with ``arrays()`` returning
``(X, y)`` (``X``: N×H×W×3 ``uint8`` RGB at the model's input size, ``y``: ``int64`` class
indices) and ``len()``. :class:`ArrayStore` is the in-memory one.

This module imports numpy only; a task's implementation module may import torch.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from aiotwin.bundle import Bundle

Layers = Literal["all", "head"]
LAYERS: tuple[str, ...] = ("all", "head")
Weights = list[npt.NDArray[Any]]

_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*$")


@runtime_checkable
class SampleStore(Protocol):
    """Labelled crops: ``arrays()`` → (N×H×W×3 uint8 RGB, int64 labels)."""

    def arrays(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        """All samples as one batch and their labels."""
        ...

    def __len__(self) -> int: ...


class ArrayStore:
    """An in-memory :class:`SampleStore` over two arrays (validated on construction)."""

    def __init__(self, x: npt.NDArray[np.uint8], y: npt.ArrayLike) -> None:
        labels = np.asarray(y)
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[3] != 3:
            raise ValueError(f"X must be N×H×W×3 uint8, got {x.dtype} {x.shape}")
        if labels.ndim != 1 or len(labels) != len(x) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"y must be {len(x)} integer labels, got {labels.dtype} {labels.shape}")
        self._x = x
        self._y = labels.astype(np.int64, copy=False)

    def arrays(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        return self._x, self._y

    def __len__(self) -> int:
        return len(self._y)

    def subset(self, index: npt.ArrayLike) -> ArrayStore:
        """A store holding the samples at ``index`` (array of positions or a boolean mask)."""
        idx = np.asarray(index)
        return ArrayStore(self._x[idx], self._y[idx])


@runtime_checkable
class Task(Protocol):
    """A trainable, exportable model (see the module docstring)."""

    @property
    def name(self) -> str:
        """Bundle name, e.g. ``vehicle-edge``."""
        ...

    @property
    def version(self) -> int:
        """Integer model version; written into exported bundles."""
        ...

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names in output order."""
        ...

    def get_weights(self) -> Weights:
        """All trainable state as numpy arrays, in a fixed order."""
        ...

    def set_weights(self, weights: Sequence[npt.NDArray[Any]], *, version: int | None = None) -> None:
        """Load arrays from :meth:`get_weights`; raise ``WeightsMismatch`` when they do not fit."""
        ...

    def train(self, store: SampleStore, epochs: int, *, layers: Layers = "all") -> dict[str, float]:
        """Train in place for ``epochs``; ``layers="head"`` trains the classifier head only."""
        ...

    def evaluate(self, store: SampleStore) -> dict[str, float]:
        """``accuracy``, ``loss`` and ``accuracy/<label>`` per class on ``store``."""
        ...

    def export(self, out_dir: Path, variants: Sequence[str], calibration_store: SampleStore, *,
               holdout: SampleStore | None = None) -> Bundle:
        """Write a bundle of ``variants`` to ``out_dir`` (accuracy measured on ``holdout``)."""
        ...


def _problem(ref: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem("<task>", "task", f"{ref!r}: {message}")])


def _import_ref(ref: str) -> Any:
    if not _REF.match(ref):
        raise _problem(ref, "must look like 'package.module:Class'")
    module_name, attr = ref.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise _problem(ref, f"no module named {exc.name!r}") from exc
        raise _problem(ref, f"importing {module_name} failed: {exc}") from exc
    except ImportError as exc:
        raise _problem(ref, f"importing {module_name} failed: {exc}") from exc
    if not hasattr(module, attr):
        raise _problem(ref, f"module {module_name} has no attribute {attr!r}")
    return getattr(module, attr)


def load_task(ref: str, **kwargs: Any) -> Task:
    """Resolve ``"package.module:Class"`` and instantiate it with ``kwargs``.

    Raises
    ------
    ConfigError
        The reference is malformed, names nothing importable, rejects ``kwargs``, or what it
        builds does not implement :class:`Task`.
    BackendMissing
        The task's module needs an optional backend (torch) that is not installed.
    """
    factory = _import_ref(ref)
    if not callable(factory):
        raise _problem(ref, "is not a class or factory")
    try:
        task = factory(**kwargs)
    except TypeError as exc:
        raise _problem(ref, f"cannot be created with {sorted(kwargs)}: {exc}") from exc
    if not isinstance(task, Task):
        raise _problem(ref, "does not implement the aiotwin.models.Task interface")
    return task


__all__ = ["LAYERS", "ArrayStore", "Layers", "SampleStore", "Task", "Weights", "load_task"]
