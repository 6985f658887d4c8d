"""What the edge-tier ServerApp and the ClientApp say to each other (pure: no flwr, no torch).

A **train instruction** (aggregator → node) is one Flower message of type ``train`` holding

- ``ArrayRecord "arrays"``: the base model's weights, in the task's ``get_weights`` order;
- ``ConfigRecord "config"``: :meth:`TrainInstruction.to_config` (protocol, run id, round, base
  version, epochs, layers, task reference and keyword arguments, seed, input size).

A **reply** (node → aggregator) holds

- ``ConfigRecord "update"``: ``{"update": bytes}``, one :func:`aiotwin.fl.encode_update` frame (the
  delta ``trained − base``, the base version, the example count, run, round, and the client id,
  which must be the sender's Flower node id);
- ``MetricRecord "metrics"``: ``num-examples`` and what the node measured (``train-loss``,
  ``train-accuracy``, ``train-s``, ``load-s``);
- ``ConfigRecord "meta"``: ``node-name`` (the device's own id), ``protocol``, ``model-version``.

A node that cannot train replies with a Flower ``Error`` (:data:`ERROR_CODE_TRAIN`). The node's
settings come from the SuperNode's ``--node-config`` (keys ``NODE_*`` below).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiotwin.flower._exceptions import ClientTrainError
from aiotwin.models.task import LAYERS

PROTOCOL_VERSION = 1
MIN_PROTOCOL_VERSION = 1  # the first version: nothing older exists
MESSAGE_TYPE_TRAIN = "train"  # flwr.app.MessageType.TRAIN (a ClientApp's @app.train())
ERROR_CODE_TRAIN = 4101  # Flower's own codes are < 1000; ours name "the ClientApp could not train"

REC_ARRAYS = "arrays"
REC_CONFIG = "config"
REC_UPDATE = "update"
REC_METRICS = "metrics"
REC_META = "meta"
KEY_UPDATE = "update"
KEY_NUM_EXAMPLES = "num-examples"

# --node-config keys of a SuperNode (what its ClientApp reads from Context.node_config).
NODE_NAME = "node-name"  # the device's node id (Flower assigns its own numeric node id)
NODE_DATA_DIR = "data-dir"  # the device's data dir (sample store)
NODE_SAMPLE_SOURCE = "sample-source"  # "package.module:function" returning (X, y); see aiotwin.flower.samples
NODE_SAMPLES_NPZ = "samples-npz"  # an .npz with x (N×H×W×3 uint8) and y: tests and experiments
NODE_TASK = "task"  # the only task reference this node trains (its bundle's); unset: any
NODE_MODEL_VERSION = "model-version"  # the bundle version the node serves (reported, not enforced)
NODE_MAX_SAMPLES = "max-samples"  # train on at most this many of the newest samples (0: all)


@dataclass(frozen=True)
class TrainInstruction:
    """One round's order to a node: train ``task`` from the sent weights of ``base_version``."""

    run_id: str
    round: int
    base_version: str
    task: str
    epochs: int = 1
    layers: str = "all"
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    input_size: tuple[int, int] | None = None  # (height, width) the node resizes its crops to
    protocol: int = PROTOCOL_VERSION

    def to_config(self) -> dict[str, Any]:
        """Flat values a Flower ``ConfigRecord`` holds (``task-kwargs`` as JSON text)."""
        out: dict[str, Any] = {
            "protocol": self.protocol, "run-id": self.run_id, "round": self.round,
            "base-version": self.base_version, "task": self.task, "epochs": self.epochs, "layers": self.layers,
            "task-kwargs": json.dumps(self.task_kwargs, sort_keys=True), "seed": self.seed,
        }
        if self.input_size is not None:
            out["input-size"] = [int(v) for v in self.input_size]
        return out

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> TrainInstruction:
        """Parse :meth:`to_config` output; raise :class:`ClientTrainError` listing every problem."""
        problems: list[str] = []
        protocol = _int(cfg, "protocol", problems)
        if not problems and not MIN_PROTOCOL_VERSION <= protocol <= PROTOCOL_VERSION:
            problems.append(f"protocol {protocol} is not supported (this node speaks "
                            f"{MIN_PROTOCOL_VERSION}..{PROTOCOL_VERSION})")
        values = {
            "run_id": _str(cfg, "run-id", problems), "round": _int(cfg, "round", problems),
            "base_version": _str(cfg, "base-version", problems), "task": _str(cfg, "task", problems),
            "epochs": _int(cfg, "epochs", problems), "layers": _str(cfg, "layers", problems),
            "seed": _int(cfg, "seed", problems), "task_kwargs": _kwargs(cfg, problems),
            "input_size": _size(cfg, problems), "protocol": protocol,
        }
        if values["layers"] not in LAYERS and "layers" in cfg:
            problems.append(f"layers must be one of {', '.join(LAYERS)}, got {values['layers']!r}")
        if isinstance(values["epochs"], int) and values["epochs"] < 0:
            problems.append(f"epochs must be >= 0, got {values['epochs']}")
        if problems:
            raise ClientTrainError("malformed train instruction: " + "; ".join(problems))
        return cls(**values)


def _int(cfg: Mapping[str, Any], key: str, problems: list[str]) -> Any:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{key} must be an integer, got {value!r}")
        return 0
    return value


def _str(cfg: Mapping[str, Any], key: str, problems: list[str]) -> Any:
    value = cfg.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"{key} must be a non-empty string, got {value!r}")
        return ""
    return value


def _kwargs(cfg: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    raw = cfg.get("task-kwargs", "{}")
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        problems.append(f"task-kwargs must be a JSON object, got {raw!r}")
        return {}
    return value


def _size(cfg: Mapping[str, Any], problems: list[str]) -> tuple[int, int] | None:
    raw = cfg.get("input-size")
    if raw is None:
        return None
    if (not isinstance(raw, list | tuple) or len(raw) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in raw)):
        problems.append(f"input-size must be [height, width] of positive integers, got {raw!r}")
        return None
    return int(raw[0]), int(raw[1])


def task_allowed(instruction_task: str, node_config: Mapping[str, Any]) -> bool:
    """Whether this node trains ``instruction_task`` (its ``task`` node-config entry, when set)."""
    allowed = node_config.get(NODE_TASK)
    return not allowed or allowed == instruction_task


def round_seed(job_seed: int, round_no: int) -> int:
    """The seed of one round's local training (recorded with the job: runs are repeatable)."""
    return job_seed * 1000 + round_no


__all__ = [
    "ERROR_CODE_TRAIN", "KEY_NUM_EXAMPLES", "KEY_UPDATE", "MESSAGE_TYPE_TRAIN", "MIN_PROTOCOL_VERSION",
    "NODE_DATA_DIR", "NODE_MAX_SAMPLES", "NODE_MODEL_VERSION", "NODE_NAME", "NODE_SAMPLES_NPZ",
    "NODE_SAMPLE_SOURCE", "NODE_TASK", "PROTOCOL_VERSION", "REC_ARRAYS", "REC_CONFIG", "REC_META",
    "REC_METRICS", "REC_UPDATE", "TrainInstruction", "round_seed", "task_allowed",
]
