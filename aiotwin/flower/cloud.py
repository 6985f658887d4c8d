"""The cloud tier's protocol and the gateway bridge (pure: json and numpy; no flwr).

The coordinator's global ServerApp sends each gateway's SuperNode the train message of the edge
tier (:mod:`aiotwin.flower.protocol`: ``"arrays"`` = the global weights, ``"config"`` = a
:class:`~aiotwin.flower.protocol.TrainInstruction` whose ``base_version`` is the global version)
plus one more ``ConfigRecord "edge"``: :meth:`EdgeRequest.to_config` (how many local rounds the
gateway runs with its cameras, their deadline and quorum, the edge aggregation rule, and the
**bridge timeout**: how long the gateway may take before it must give up and reply).

The gateway's cloud-tier ClientApp (:mod:`aiotwin.flower.gateway_client_app`) does not train: it
hands the global model to its gateway daemon through the **bridge**, a
:class:`~aiotwin.flower.job.JobQueue` directory (node-config ``bridge-dir``) that the daemon's
:class:`gateway.fl.CloudBridge` serves by calling ``EdgeAggregator.run_job``. The ClientApp then
replies with ``edge result − global`` (an :mod:`aiotwin.fl` update frame, base version = the
global version), the summed examples of the last edge aggregation as ``num-examples``, and the
edge tier's figures (``edge-*`` metrics: participants, bytes, rounds, seconds).

Timeouts are ordered: edge round deadline ≤ bridge timeout < global round deadline < message TTL,
so a gateway always replies (result or error) before the coordinator closes the round, and the
message never expires before the round gives up.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from aiotwin.config import dump_dataclass, load_dataclass
from aiotwin.fl import DEFAULT_QUORUM_FRAC, AggregationConfig, Update, UpdateMessage, encode_update
from aiotwin.flower._exceptions import ClientTrainError, EdgeJobFailed
from aiotwin.flower.job import EdgeJob, JobQueue, RunDir, load_weights, save_weights
from aiotwin.flower.local import LocalResult
from aiotwin.flower.protocol import TrainInstruction

REC_EDGE = "edge"
NODE_BRIDGE_DIR = "bridge-dir"  # a gateway SuperNode's node-config: its daemon's bridge queue
NODE_GATEWAY_ID = "node-name"  # the gateway's own id (reported with its replies)
BRIDGE_POLL_S = 0.5  # how often the ClientApp looks for the gateway's result
BRIDGE_STALE_S = 30.0  # a bridge whose heartbeat is older is not running: fail the message at once
DEFAULT_EDGE_DEADLINE_S = 120.0
STATUS_DONE, STATUS_FAILED = "done", "failed"


def _positive(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@dataclass(frozen=True)
class EdgeRequest:
    """What a gateway runs with its cameras for one global round (``ConfigRecord "edge"``)."""

    local_rounds: int = 1
    deadline_s: float = DEFAULT_EDGE_DEADLINE_S  # one edge round
    quorum_frac: float = DEFAULT_QUORUM_FRAC
    bridge_timeout_s: float = 300.0  # the whole edge job, then the gateway replies with an error
    aggregation: AggregationConfig = field(default_factory=AggregationConfig)

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.local_rounds, bool) or not isinstance(self.local_rounds, int) or self.local_rounds < 1:
            problems.append(f"local-rounds must be an integer >= 1, got {self.local_rounds!r}")
        problems += [f"{n.replace('_', '-')} must be a number > 0, got {getattr(self, n)!r}"
                     for n in ("deadline_s", "bridge_timeout_s") if not _positive(getattr(self, n))]
        if not (_positive(self.quorum_frac) and self.quorum_frac <= 1):
            problems.append(f"quorum-frac must be in (0, 1], got {self.quorum_frac!r}")
        if not problems and self.deadline_s > self.bridge_timeout_s:
            problems.append(f"the edge deadline ({self.deadline_s:g} s) must not exceed the bridge timeout "
                            f"({self.bridge_timeout_s:g} s)")
        if problems:
            raise ClientTrainError("malformed edge request: " + "; ".join(problems))

    def to_config(self) -> dict[str, Any]:
        return {"local-rounds": self.local_rounds, "deadline-s": float(self.deadline_s),
                "quorum-frac": float(self.quorum_frac), "bridge-timeout-s": float(self.bridge_timeout_s),
                "aggregation": json.dumps(dump_dataclass(self.aggregation), sort_keys=True)}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> EdgeRequest:
        """Parse :meth:`to_config` output; :class:`ClientTrainError` when malformed."""
        try:
            aggregation = load_dataclass(AggregationConfig, json.loads(str(cfg.get("aggregation", "{}"))),
                                         file="edge request")
            return cls(local_rounds=cfg.get("local-rounds", 1), deadline_s=cfg.get("deadline-s", 0),
                       quorum_frac=cfg.get("quorum-frac", 0), bridge_timeout_s=cfg.get("bridge-timeout-s", 0),
                       aggregation=aggregation)
        except ClientTrainError:
            raise
        except (ValueError, TypeError) as exc:  # ConfigError and FlConfigError are ValueErrors
            raise ClientTrainError(f"malformed edge request: {exc}") from exc

    def edge_job(self, instruction: TrainInstruction) -> EdgeJob:
        """The gateway's edge job for this global round (gateway-local settings are its defaults)."""
        return EdgeJob(task=instruction.task, base_version=instruction.base_version, rounds=self.local_rounds,
                       epochs=instruction.epochs, layers=instruction.layers, task_kwargs=dict(instruction.task_kwargs),
                       seed=instruction.seed, input_size=instruction.input_size, quorum_frac=self.quorum_frac,
                       deadline_s=self.deadline_s, aggregation=self.aggregation)


# -- the bridge: ClientApp side ----------------------------------------------------------------------


def bridge_alive(queue: JobQueue, now: float | None = None) -> bool:
    """Whether the gateway daemon serves this bridge (fresh heartbeat, not stopped)."""
    beat = queue.read_heartbeat()
    if beat is None or beat.get("state") == "stopped":
        return False
    return float(beat.get("time", 0.0)) >= (time.time() if now is None else now) - BRIDGE_STALE_S


def submit_to_bridge(queue: JobQueue, instruction: TrainInstruction, request: EdgeRequest,
                     weights: Sequence[npt.NDArray[Any]], client_id: str) -> RunDir:
    """Queue the edge job of one global round for the gateway daemon."""
    if not bridge_alive(queue):
        raise ClientTrainError(f"the gateway daemon does not serve its bridge at {queue.work_dir} (no heartbeat)")
    run = queue.new_run(request.edge_job(instruction), weights, **{
        "cloud-run": instruction.run_id, "cloud-round": instruction.round, "client-id": client_id,
        "bridge-timeout-s": request.bridge_timeout_s})
    queue.submit(run)
    return run


def wait_bridge(run: RunDir, queue: JobQueue, timeout_s: float, *, sleep: Callable[[float], Any],
                clock: Callable[[], float] = time.monotonic, poll_s: float = BRIDGE_POLL_S) -> dict[str, Any]:
    """The final status of a bridge job; :class:`EdgeJobFailed` on failure, timeout or a dead bridge."""
    give_up = clock() + timeout_s
    while True:
        status = run.read_status() or {}
        if status.get("state") == STATUS_DONE:
            return status
        if status.get("state") == STATUS_FAILED:
            raise EdgeJobFailed(str(status.get("error", "failed")), run_id=run.run_id)
        if clock() >= give_up:
            raise EdgeJobFailed(f"the gateway gave no result within the bridge timeout ({timeout_s:g} s)",
                                run_id=run.run_id)
        if not bridge_alive(queue):
            raise EdgeJobFailed("the gateway daemon stopped serving its bridge", run_id=run.run_id)
        sleep(poll_s)


def bridge_reply(run: RunDir, status: Mapping[str, Any], instruction: TrainInstruction,
                 global_weights: Sequence[npt.NDArray[Any]], *, client_id: str, gateway_id: str) -> LocalResult:
    """The gateway's reply to the coordinator: ``edge result − global`` as an update frame."""
    result = load_weights(run.path / RunDir.RESULT)
    num_examples = int(status.get("num-examples", 0))
    if num_examples < 1:
        raise EdgeJobFailed("no edge round published a model (no examples behind the result)", run_id=run.run_id)
    update = Update.from_weights(client_id, instruction.base_version, num_examples, result, global_weights)
    frame = encode_update(UpdateMessage(instruction.run_id, instruction.round, update))
    metrics = {k: float(v) for k, v in dict(status.get("edge", {})).items() if isinstance(v, int | float)}
    meta: dict[str, str | int] = {"node-name": gateway_id, "edge-run-id": run.run_id}
    return LocalResult(frame, num_examples, metrics, meta)


# -- the bridge: gateway side ------------------------------------------------------------------------


def edge_summary(rounds: Sequence[Mapping[str, Any]], seconds: float) -> dict[str, float]:
    """The edge tier's figures of one edge job, reported to the coordinator as ``edge-*`` metrics."""
    published = [r for r in rounds if r.get("aggregated")]
    cameras = {str(n) for r in rounds for n in r.get("accepted", [])}
    out = {
        "edge-rounds": float(len(rounds)), "edge-aggregated-rounds": float(len(published)),
        "edge-participants": float(len(cameras)),
        "edge-connected": float(max((len(r.get("connected", [])) for r in rounds), default=0)),
        "edge-bytes-down": float(sum(int(r.get("bytes_down", 0)) for r in rounds)),
        "edge-bytes-up": float(sum(int(r.get("bytes_up", 0)) for r in rounds)), "edge-s": float(seconds),
    }
    if published and published[-1].get("train_loss") is not None:
        out["edge-train-loss"] = float(published[-1]["train_loss"])
    return out


def finish_bridge_job(run: RunDir, weights: Sequence[npt.NDArray[Any]], rounds: Sequence[Mapping[str, Any]],
                      seconds: float, edge_run_id: str) -> None:
    """Write the edge job's result for the ClientApp (``result.npz``, status ``done``)."""
    published = [r for r in rounds if r.get("aggregated")]
    save_weights(run.path / RunDir.RESULT, weights)
    run.write_status(STATUS_DONE, **{"num-examples": int(published[-1]["num_examples"]) if published else 0,
                                     "edge": edge_summary(rounds, seconds), "edge-run-id": edge_run_id})


__all__ = [
    "BRIDGE_POLL_S", "BRIDGE_STALE_S", "NODE_BRIDGE_DIR", "NODE_GATEWAY_ID", "REC_EDGE", "EdgeRequest",
    "bridge_alive", "bridge_reply", "edge_summary", "finish_bridge_job", "submit_to_bridge", "wait_bridge",
]
