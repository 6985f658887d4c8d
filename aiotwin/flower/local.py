"""One node's part of a round, without Flower: build the task, load samples, train, encode the update.

:mod:`aiotwin.flower.client_app` wraps :func:`local_train` in a Flower ClientApp; tests call it
directly. Tasks are created as ``load_task(ref, **task_kwargs, seed=round_seed)`` (the task
interface's convention, :mod:`aiotwin.models.task`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

from aiotwin._exceptions import AiotwinError
from aiotwin.fl import Update, UpdateMessage, encode_update
from aiotwin.flower._exceptions import ClientTrainError
from aiotwin.flower.protocol import NODE_MODEL_VERSION, NODE_NAME, TrainInstruction, task_allowed
from aiotwin.flower.samples import load_samples
from aiotwin.models.task import Layers, Task, load_task


@dataclass(frozen=True)
class LocalResult:
    """What a node sends back: the encoded update frame, its example count, metrics and identity."""

    frame: bytes
    num_examples: int
    metrics: dict[str, float]
    meta: dict[str, str | int]


def build_task(instruction: TrainInstruction, weights: Sequence[npt.NDArray[Any]]) -> Task:
    """The instruction's task holding ``weights`` (:class:`ClientTrainError` when that fails)."""
    version = int(instruction.base_version) if instruction.base_version.isdigit() else None
    try:
        task = load_task(instruction.task, **{**instruction.task_kwargs, "seed": instruction.seed})
        task.set_weights(weights, version=version)
    except AiotwinError as exc:
        raise ClientTrainError(f"task {instruction.task}: {exc}") from exc
    return task


def local_train(instruction: TrainInstruction, weights: Sequence[npt.NDArray[Any]],
                node_config: Mapping[str, Any], client_id: str) -> LocalResult:
    """Train ``instruction.epochs`` on this node's samples from ``weights``; return the update.

    ``client_id`` is the Flower node id the aggregator knows this node by.
    """
    if not task_allowed(instruction.task, node_config):
        raise ClientTrainError(f"this node trains only {node_config.get('task')!r}, not {instruction.task!r}")
    t0 = time.monotonic()
    task = build_task(instruction, weights)
    store = load_samples(node_config, task.labels, instruction.input_size)
    t1 = time.monotonic()
    layers: Layers = "head" if instruction.layers == "head" else "all"
    reported = task.train(store, instruction.epochs, layers=layers)
    t2 = time.monotonic()
    update = Update.from_weights(client_id, instruction.base_version, len(store), task.get_weights(), weights)
    frame = encode_update(UpdateMessage(instruction.run_id, instruction.round, update))
    metrics = {f"train-{k}": float(v) for k, v in reported.items() if k in ("loss", "accuracy")}
    metrics.update({"load-s": t1 - t0, "train-s": t2 - t1})
    meta: dict[str, str | int] = {"node-name": str(node_config.get(NODE_NAME, ""))}
    if isinstance(node_config.get(NODE_MODEL_VERSION), int):
        meta["model-version"] = int(node_config[NODE_MODEL_VERSION])
    return LocalResult(frame, len(store), metrics, meta)


__all__ = ["LocalResult", "build_task", "local_train"]
