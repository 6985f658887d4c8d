"""Model-poisoning attacks of the robustness benchmark (``fl_robustness.py``): pure functions, and tasks.

The attacks are pure functions over labels and deltas (a delta is ``local − global``, one float32
array per tensor, the :mod:`aiotwin.fl` convention):

- :func:`flip_labels`: a data-poisoning client trains on ``y → (y + 1) mod classes`` (every label
  wrong, every class still present, so the update looks like an ordinary one);
- :func:`sign_flip`: a model-poisoning client sends ``−scale × its honest delta`` (``scale`` 10);
- :func:`gaussian_noise`: a client sends noise instead of a step, ``N(0, σ_t²)`` per entry of tensor
  *t* with ``σ_t = factor × ‖δ_t‖₂``, the L2 norm of its own honest delta of that tensor (factor 1):
  every entry is as large as the honest tensor's whole step, so the noise tensor's norm is
  ``√numel`` times the honest one, far above any clipping bound. Tensors the honest step leaves
  unchanged (BatchNorm running statistics under ``freeze_bn``) stay unchanged, so a poisoned model
  never gets a negative running variance.

The same attacks as :class:`~aiotwin.models.Task` implementations, for a real run over Flower
processes: :class:`LabelFlipVehicle`, :class:`SignFlipVehicle` and :class:`NoiseVehicle` wrap
:class:`~aiotwin.models.vehicle.VehicleClassifier` (created with the same keyword arguments, plus
the attack's own) so that ``get_weights()`` after ``train()`` returns the attacked weights. Named
from the project root as ``benchmarks._attacks:SignFlipVehicle``. This module imports numpy only;
the wrapped classifier (torch) is loaded when a wrapper is created.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.models import Layers, SampleStore, Task, Weights, load_task

VEHICLE = "aiotwin.models.vehicle:VehicleClassifier"
SIGN_FLIP_SCALE = 10.0  # issue 4 §3: "sign flip ×10 scaled update"
NOISE_FACTOR = 1.0  # σ per entry = this × the honest tensor's L2 norm
CLASSES = 6  # the vehicle classifier's labels (aiotwin.labels.CLASSES)

Array = npt.NDArray[Any]


# --------------------------------------------------------------------------- pure attacks


def flip_labels(y: npt.NDArray[np.int64], classes: int = CLASSES) -> npt.NDArray[np.int64]:
    """Every label shifted to the next class: ``(y + 1) mod classes``."""
    out: npt.NDArray[np.int64] = (np.asarray(y, dtype=np.int64) + 1) % classes
    return out


def sign_flip(delta: Sequence[Array], scale: float = SIGN_FLIP_SCALE) -> Weights:
    """``−scale × delta`` per tensor, float32."""
    return [(-scale * np.asarray(d, dtype=np.float64)).astype(np.float32) for d in delta]


def gaussian_noise(delta: Sequence[Array], rng: np.random.Generator, factor: float = NOISE_FACTOR) -> Weights:
    """Pure noise shaped like ``delta``: entries of tensor *t* drawn from ``N(0, (factor·‖δ_t‖₂)²)``."""
    out: Weights = []
    for d in delta:
        arr = np.asarray(d, dtype=np.float64)
        sigma = factor * float(np.linalg.norm(arr))
        out.append((rng.standard_normal(arr.shape) * sigma).astype(np.float32))
    return out


def apply_to_weights(base: Sequence[Array], local: Sequence[Array],
                     attack: Callable[[Sequence[Array]], Weights]) -> Weights:
    """``base + attack(local − base)`` per tensor: an attack on deltas turned into attacked weights."""
    delta = [np.asarray(w, np.float64) - np.asarray(b, np.float64) for w, b in zip(local, base, strict=True)]
    return [(np.asarray(b, np.float64) + np.asarray(a, np.float64)).astype(np.asarray(b).dtype)
            for b, a in zip(base, attack(delta), strict=True)]


class LabelFlippedStore:
    """A :class:`~aiotwin.models.SampleStore` whose labels are :func:`flip_labels` of another's."""

    def __init__(self, store: SampleStore, classes: int = CLASSES) -> None:
        self._store = store
        self._classes = classes

    def arrays(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
        x, y = self._store.arrays()
        return x, flip_labels(y, self._classes)

    def __len__(self) -> int:
        return len(self._store)


# --------------------------------------------------------------------------- the attacks as tasks


class _AttackedVehicle:
    """A vehicle classifier whose ``train()`` leaves the attacked weights behind (see the module doc)."""

    def __init__(self, **kwargs: Any) -> None:
        self.inner: Task = load_task(VEHICLE, **kwargs)
        self.seed = int(kwargs.get("seed", 0))
        self._trainings = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def version(self) -> int:
        return self.inner.version

    @property
    def labels(self) -> tuple[str, ...]:
        return self.inner.labels

    def get_weights(self) -> Weights:
        return self.inner.get_weights()

    def set_weights(self, weights: Sequence[Array], *, version: int | None = None) -> None:
        self.inner.set_weights(weights, version=version)

    def train(self, store: SampleStore, epochs: int, *, layers: Layers = "all") -> dict[str, float]:
        base = self.inner.get_weights()
        metrics = self.inner.train(self._poison(store), epochs, layers=layers)
        attacked = self._attack(base, self.inner.get_weights())
        if attacked is not None:
            self.inner.set_weights(attacked)
        self._trainings += 1
        return metrics

    def evaluate(self, store: SampleStore) -> dict[str, float]:
        return self.inner.evaluate(store)

    def export(self, out_dir: Path, variants: Sequence[str], calibration_store: SampleStore, *,
               holdout: SampleStore | None = None) -> Any:
        return self.inner.export(out_dir, variants, calibration_store, holdout=holdout)

    def _poison(self, store: SampleStore) -> SampleStore:
        """The store the inner classifier trains on."""
        return store

    def _attack(self, base: Weights, local: Weights) -> Weights | None:
        """The weights to leave behind after training from ``base`` to ``local`` (None: ``local``)."""
        return None


class LabelFlipVehicle(_AttackedVehicle):
    """Trains honestly on :func:`flip_labels` of its samples (data poisoning)."""

    def _poison(self, store: SampleStore) -> SampleStore:
        return LabelFlippedStore(store, len(self.labels))


class SignFlipVehicle(_AttackedVehicle):
    """Trains honestly, then leaves ``global − scale × (local − global)`` (:func:`sign_flip`)."""

    def __init__(self, *, scale: float = SIGN_FLIP_SCALE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def _attack(self, base: Weights, local: Weights) -> Weights:
        return apply_to_weights(base, local, lambda delta: sign_flip(delta, self.scale))


class NoiseVehicle(_AttackedVehicle):
    """Trains honestly, then leaves ``global + noise`` (:func:`gaussian_noise`, seeded by the task's seed)."""

    def __init__(self, *, factor: float = NOISE_FACTOR, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.factor = float(factor)

    def _attack(self, base: Weights, local: Weights) -> Weights:
        rng = np.random.default_rng([self.seed, self._trainings])
        return apply_to_weights(base, local, lambda delta: gaussian_noise(delta, rng, self.factor))


__all__ = ["NOISE_FACTOR", "SIGN_FLIP_SCALE", "LabelFlipVehicle", "LabelFlippedStore", "NoiseVehicle",
           "SignFlipVehicle", "apply_to_weights", "flip_labels", "gaussian_noise", "sign_flip"]
