"""``VehicleClassifier``: the reference :class:`~aiotwin.models.task.Task` (edge and cloud sizes).

Config: ``task = "aiotwin.models.vehicle:VehicleClassifier"``, created as
``load_task(ref, arch="edge", seed=0, version=0)``; ``train={"optimizer": "sgd", "lr": 0.02}``
(JSON-friendly, e.g. an FL job's ``task_kwargs``) overrides fields of the arch's
:class:`~aiotwin.models.recipe.TrainConfig`. Importing this module needs torch (the
``train`` extra); without it the import raises :class:`aiotwin.BackendMissing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from aiotwin.availability import require

require("torch")

import torch  # noqa: E402

from aiotwin.bundle import InputSpec  # noqa: E402
from aiotwin.models import recipe  # noqa: E402
from aiotwin.models.errors import WeightsMismatch  # noqa: E402
from aiotwin.models.nets import build_net, count_params  # noqa: E402
from aiotwin.models.task import LAYERS, Layers, SampleStore, Weights  # noqa: E402
from aiotwin.models.train import evaluate, fit, reproducible  # noqa: E402

if TYPE_CHECKING:
    from aiotwin.bundle import Bundle


def _skip(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def _with_overrides(cfg: recipe.TrainConfig, overrides: Mapping[str, Any]) -> recipe.TrainConfig:
    known = {f.name: f.type for f in fields(cfg)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise TypeError(f"unknown training setting(s) {unknown}; known: {sorted(known)}")
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        want = type(getattr(cfg, key))
        accepted = (float, int) if want is float else (want,)
        if (isinstance(value, bool) and want is not bool) or not isinstance(value, accepted):
            raise TypeError(f"training setting {key!r} must be {want.__name__}, got {value!r}")
        checked[key] = want(value)
    if checked.get("optimizer", cfg.optimizer) not in recipe.OPTIMIZERS:
        raise TypeError(f"training setting 'optimizer' must be one of {recipe.OPTIMIZERS}")
    return replace(cfg, **checked)


class VehicleClassifier:
    """The vehicle classifier family (``arch``: ``edge`` or ``cloud``) as a task."""

    def __init__(self, arch: str = "edge", *, seed: int = 0, version: int = 0,
                 labels: Sequence[str] = recipe.LABELS, input_size: int = recipe.INPUT_SIZE,
                 train_config: recipe.TrainConfig | None = None, train: Mapping[str, Any] | None = None) -> None:
        self.arch = arch
        self.seed = seed
        self._version = int(version)
        self._labels = tuple(labels)
        self.spec = InputSpec(input_size, input_size, 3, "rgb", recipe.MEAN, recipe.STD)
        self.train_config = _with_overrides(train_config or recipe.recipe_for(arch).train, train or {})
        self.trained_layers: str = "all"
        self._rounds = 0
        with reproducible(seed, self.train_config.threads):
            self.net = build_net(arch, len(self._labels)).eval()
        self._keys = [k for k in self.net.state_dict() if not _skip(k)]

    @property
    def name(self) -> str:
        return f"vehicle-{self.arch}"

    @property
    def version(self) -> int:
        return self._version

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def weight_names(self) -> tuple[str, ...]:
        """State-dict keys in :meth:`get_weights` order (``head.*`` is the classifier head)."""
        return tuple(self._keys)

    @property
    def params(self) -> int:
        return count_params(self.net)

    def get_weights(self) -> Weights:
        state = self.net.state_dict()
        return [state[k].detach().cpu().numpy().copy() for k in self._keys]

    def set_weights(self, weights: Sequence[npt.NDArray[Any]], *, version: int | None = None) -> None:
        state = self.net.state_dict()
        if len(weights) != len(self._keys):
            raise WeightsMismatch(f"{self.name}: got {len(weights)} arrays, model has {len(self._keys)}")
        new: dict[str, torch.Tensor] = {}
        for key, arr in zip(self._keys, weights, strict=True):
            want = tuple(state[key].shape)
            if tuple(np.shape(arr)) != want:
                raise WeightsMismatch(f"{self.name}: {key} has shape {np.shape(arr)}, model needs {want}")
            if not np.all(np.isfinite(arr)):
                raise WeightsMismatch(f"{self.name}: {key} holds NaN or inf")
            new[key] = torch.as_tensor(np.asarray(arr), dtype=state[key].dtype)
        self.net.load_state_dict(new, strict=False)
        if version is not None:
            self._version = int(version)

    def train(self, store: SampleStore, epochs: int, *, layers: Layers = "all") -> dict[str, float]:
        if layers not in LAYERS:
            raise ValueError(f"layers must be one of {LAYERS}, got {layers!r}")
        if epochs < 0:
            raise ValueError("epochs must be >= 0")
        cfg = self.train_config
        cfg = replace(cfg, epochs=epochs)
        run_seed = self.seed * 1000 + self._rounds
        self._rounds += 1
        with reproducible(run_seed, cfg.threads):
            metrics = fit(self.net, store.arrays(), cfg, self.spec, seed=run_seed, layers=layers,
                          tag=f"{self.name} ")
        self.trained_layers = layers
        return metrics

    def evaluate(self, store: SampleStore) -> dict[str, float]:
        with reproducible(self.seed, self.train_config.threads):
            return evaluate(self.net, store.arrays(), self.spec, self._labels)

    def export(self, out_dir: Path, variants: Sequence[str], calibration_store: SampleStore, *,
               holdout: SampleStore | None = None, hard_holdout: SampleStore | None = None,
               extra: dict[str, Any] | None = None) -> Bundle:
        from aiotwin.models.bundle_writer import ExportJob, write_bundle

        job = ExportJob(
            name=self.name, version=self._version, task=recipe.TASK_REF, arch=self.arch,
            labels=self._labels, spec=self.spec, trained_layers=self.trained_layers,
            extra={"params": self.params, **(extra or {})},
        )
        return write_bundle(self.net, job, Path(out_dir), variants, calibration_store,
                            holdout=holdout, hard_holdout=hard_holdout)


__all__ = ["VehicleClassifier"]
