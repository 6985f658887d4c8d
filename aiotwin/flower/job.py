"""Edge-tier jobs and their run directories (pure: json and numpy; no flwr).

A gateway's local aggregation loop (a long-lived ServerApp, :mod:`aiotwin.flower.server_app`)
takes **jobs** from its gateway daemon: "run ``rounds`` rounds from these weights of
``base_version``". The daemon and the ServerApp share one work directory::

    <work>/runs/<run-id>/job.json      the full job (config, seeds, aggregation rule) + who asked
    <work>/runs/<run-id>/initial.npz   the base weights
    <work>/runs/<run-id>/rounds.json   one record per round, rewritten after every round
    <work>/runs/<run-id>/result.npz    the aggregated weights (when the job finished)
    <work>/runs/<run-id>/status.json   {"state": "queued|running|done|failed", ...}
    <work>/queue/<stamp>-<run-id>      a job waiting for the ServerApp (created last, atomically)
    <work>/serverapp.json              the ServerApp's heartbeat: time, pid, connected nodes
    <work>/STOP                        asks the ServerApp to return (gateway shutdown)

Every file is written to a temporary name and renamed, so a reader never sees half a file.
The coordinator tier will hand the global model to this same queue (one job per global round).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.config import dump_dataclass, load_dataclass
from aiotwin.fl import DEFAULT_QUORUM_FRAC, AggregationConfig, FlConfigError
from aiotwin.models.task import LAYERS, Weights

# Round timing defaults. The floor of an edge round is Flower's polling (SuperNode idle poll ~3 s,
# a cold ClientApp process per message ~2 s); training a few epochs on a Pi-class CPU takes minutes.
DEFAULT_DEADLINE_S = 300.0
DEFAULT_WAIT_NODES_S = 120.0  # SuperNodes reconnect within Flower's retry backoff after a gateway restart
DEFAULT_POLL_S = 0.5  # how often the ServerApp pulls replies (Grid.send_and_receive polls every 3 s)
TTL_MARGIN_S = 60.0  # message TTL = deadline + margin: a reply is never dropped before the round gives up
HEARTBEAT_FILE = "serverapp.json"
STOP_FILE = "STOP"
STATES = ("queued", "running", "done", "failed")


@dataclass(frozen=True)
class EdgeJob:
    """One edge-tier session: ``rounds`` rounds with the connected nodes, from ``base_version``.

    ``quorum_frac`` of the nodes connected when a round starts must return a valid update within
    ``deadline_s`` for the round to publish a new model. ``holdout_npz`` (``x``, ``y``) makes the
    ServerApp evaluate the initial and every aggregated model on it.
    """

    task: str
    base_version: str
    rounds: int = 1
    epochs: int = 1
    layers: str = "all"
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    input_size: tuple[int, int] | None = None
    quorum_frac: float = DEFAULT_QUORUM_FRAC
    deadline_s: float = DEFAULT_DEADLINE_S
    min_nodes: int = 1
    wait_nodes_s: float = DEFAULT_WAIT_NODES_S
    poll_s: float = DEFAULT_POLL_S
    aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    holdout_npz: Path | None = None

    def __post_init__(self) -> None:
        problems = _job_problems(self)
        if problems:
            raise FlConfigError("edge job", problems)

    @property
    def ttl_s(self) -> float:
        """TTL of each train message: it outlives the round's deadline."""
        return self.deadline_s + TTL_MARGIN_S


def _positive(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _job_problems(j: EdgeJob) -> list[str]:
    problems = []
    if not j.task or ":" not in j.task:
        problems.append(f"task must be 'package.module:Class', got {j.task!r}")
    if not j.base_version:
        problems.append("base-version must be a non-empty string")
    if not (isinstance(j.rounds, int) and j.rounds >= 1):
        problems.append(f"rounds must be an integer >= 1, got {j.rounds!r}")
    if not (isinstance(j.epochs, int) and j.epochs >= 0):
        problems.append(f"epochs must be an integer >= 0, got {j.epochs!r}")
    if j.layers not in LAYERS:
        problems.append(f"layers must be one of {', '.join(LAYERS)}, got {j.layers!r}")
    if not (_positive(j.quorum_frac) and j.quorum_frac <= 1):
        problems.append(f"quorum-frac must be in (0, 1], got {j.quorum_frac!r}")
    if not (isinstance(j.min_nodes, int) and j.min_nodes >= 1):
        problems.append(f"min-nodes must be an integer >= 1, got {j.min_nodes!r}")
    problems.extend(f"{name.replace('_', '-')} must be a number > 0, got {getattr(j, name)!r}"
                    for name in ("deadline_s", "wait_nodes_s", "poll_s") if not _positive(getattr(j, name)))
    return problems


@dataclass
class RoundRecord:
    """What happened in one round (``rounds.json`` holds a list of these)."""

    round: int
    base_version: str
    started_at: float  # unix time
    duration_s: float = 0.0
    connected: list[str] = field(default_factory=list)  # Flower node ids when the round started
    sent: int = 0
    quorum: int = 0
    quorum_met: bool = False
    close_reason: str = ""
    accepted: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    aggregated: bool = False  # a new model was published by this round
    num_examples: int = 0
    bytes_down: int = 0  # weights sent (payload bytes, all nodes)
    bytes_up: int = 0  # update frames received on time (payload bytes)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)  # per node: reported metrics, node name
    train_loss: float | None = None  # example-weighted over the accepted updates
    train_accuracy: float | None = None
    clipped: list[str] = field(default_factory=list)
    eval: dict[str, float] | None = None  # the ServerApp's holdout, on the model after this round
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CSV_COLUMNS = ("round", "base_version", "started_at", "duration_s", "connected", "sent", "quorum", "quorum_met",
               "accepted", "rejected", "late", "missing", "aggregated", "num_examples", "bytes_down", "bytes_up",
               "train_loss", "train_accuracy", "eval_accuracy", "eval_loss")


def rounds_csv(records: Sequence[RoundRecord]) -> str:
    """One row per round; lists and maps become counts, ``eval`` its accuracy and loss."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        row = {**r.to_dict(), "eval_accuracy": (r.eval or {}).get("accuracy"), "eval_loss": (r.eval or {}).get("loss")}
        writer.writerow(["" if row[c] is None else len(row[c]) if isinstance(row[c], list | dict) else row[c]
                         for c in CSV_COLUMNS])
    return buf.getvalue()


def new_run_id(now: float | None = None) -> str:
    """``20260101T120000Z-1a2b3c``: sortable by time, unique per gateway."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON, atomically (a temporary file renamed over ``path``)."""
    _write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())


def read_json(path: Path) -> Any:
    """Parsed JSON of ``path``; ``None`` when it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def save_weights(path: Path, weights: Sequence[npt.NDArray[Any]]) -> None:
    """Weights as ``.npz`` (``a0000``, ``a0001``, … in order)."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    arrays: dict[str, Any] = {f"a{i:04d}": np.asarray(w) for i, w in enumerate(weights)}
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_weights(path: Path) -> Weights:
    with np.load(path, allow_pickle=False) as data:
        return [data[k] for k in sorted(data.files)]


class RunDir:
    """One job's directory (see the module docstring); ``run_id`` is its name."""

    JOB, INITIAL, RESULT, ROUNDS, STATUS = "job.json", "initial.npz", "result.npz", "rounds.json", "status.json"
    ROUNDS_CSV = "rounds.csv"

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def run_id(self) -> str:
        return self.path.name

    def write_job(self, job: EdgeJob, **extra: Any) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / self.JOB, {"run-id": self.run_id, "job": dump_dataclass(job), **extra})

    def read_job(self) -> EdgeJob:
        data = read_json(self.path / self.JOB)
        if not isinstance(data, dict) or not isinstance(data.get("job"), dict):
            raise FlConfigError("edge job", [f"{self.path / self.JOB} is missing or malformed"])
        return load_dataclass(EdgeJob, data["job"], file=str(self.path / self.JOB))

    def write_rounds(self, records: Sequence[RoundRecord]) -> None:
        """``rounds.json`` (everything) and ``rounds.csv`` (one scalar row per round)."""
        write_json(self.path / self.ROUNDS, [r.to_dict() for r in records])
        _write_atomic(self.path / self.ROUNDS_CSV, rounds_csv(records).encode())

    def read_rounds(self) -> list[dict[str, Any]]:
        data = read_json(self.path / self.ROUNDS)
        return data if isinstance(data, list) else []

    def write_status(self, state: str, **info: Any) -> None:
        assert state in STATES, state
        write_json(self.path / self.STATUS, {"state": state, "time": time.time(), **info})

    def read_status(self) -> dict[str, Any] | None:
        data = read_json(self.path / self.STATUS)
        return data if isinstance(data, dict) else None


class JobQueue:
    """The work directory shared by a gateway daemon and its ServerApp (module docstring)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.runs = work_dir / "runs"
        self.queue = work_dir / "queue"

    def ensure(self) -> None:
        self.runs.mkdir(parents=True, exist_ok=True)
        self.queue.mkdir(parents=True, exist_ok=True)

    def new_run(self, job: EdgeJob, weights: Sequence[npt.NDArray[Any]], **extra: Any) -> RunDir:
        """Write a job's directory (not queued yet)."""
        run = RunDir(self.runs / new_run_id())
        run.write_job(job, **extra)
        save_weights(run.path / RunDir.INITIAL, weights)
        run.write_status("queued")
        return run

    def submit(self, run: RunDir) -> None:
        _write_atomic(self.queue / f"{time.time_ns():020d}-{run.run_id}", run.run_id.encode())

    def claim(self) -> RunDir | None:
        """The oldest queued job, removed from the queue; ``None`` when there is none."""
        for entry in sorted(self.queue.glob("[0-9]*")):
            try:
                run_id = entry.read_text(encoding="utf-8").strip()
                entry.unlink()
            except FileNotFoundError:
                continue
            return RunDir(self.runs / run_id)
        return None

    def request_stop(self) -> None:
        _write_atomic(self.work_dir / STOP_FILE, b"stop\n")

    def clear_stop(self) -> None:
        (self.work_dir / STOP_FILE).unlink(missing_ok=True)

    def stop_requested(self) -> bool:
        return (self.work_dir / STOP_FILE).exists()

    def heartbeat(self, *, nodes: Sequence[int], state: str, run_id: str | None = None) -> None:
        write_json(self.work_dir / HEARTBEAT_FILE, {"time": time.time(), "pid": os.getpid(), "state": state,
                                                     "nodes": [str(n) for n in nodes], "run-id": run_id})

    def read_heartbeat(self) -> dict[str, Any] | None:
        data = read_json(self.work_dir / HEARTBEAT_FILE)
        return data if isinstance(data, dict) else None


__all__ = [
    "CSV_COLUMNS", "DEFAULT_DEADLINE_S", "DEFAULT_POLL_S", "DEFAULT_WAIT_NODES_S", "HEARTBEAT_FILE", "STOP_FILE",
    "TTL_MARGIN_S", "EdgeJob", "JobQueue", "RoundRecord", "RunDir", "load_weights", "new_run_id", "read_json",
    "rounds_csv", "save_weights", "write_json",
]
