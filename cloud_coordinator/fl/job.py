"""A global FL run: its config (:class:`CloudJob`), run directory and checkpoint (pure: json, numpy).

A :class:`CloudJob` is an :class:`aiotwin.flower.EdgeJob` read at the cloud tier: ``rounds`` global
rounds, ``deadline_s`` and ``quorum_frac`` per global round over the connected gateways
(``min_nodes`` of them at least), ``aggregation`` the coordinator's rule; ``epochs``, ``layers``,
``task`` are what cameras train. It adds what each gateway does per global round
(:meth:`CloudJob.edge_request`: ``local_rounds``, the edge deadline, quorum and rule) and the bridge
timeout. ``base_version`` must be an integer: every published global round makes the next version.

Timeouts are checked to be ordered: edge deadline ≤ bridge timeout < global deadline < message TTL
(``deadline_s + TTL_MARGIN_S``): a gateway replies before the global round closes, and a message
never expires before the round gives up.

Run directory ``<work>/runs/<run-id>/`` (the :class:`~aiotwin.flower.RunDir` files plus):

- ``checkpoint.json`` + ``checkpoint.npz``: the model after the last completed global round and its
  version; a restarted coordinator resumes from here (``fl start --resume RUN``);
- ``metrics.json`` / ``metrics.csv``: one row per global round (:mod:`cloud_coordinator.fl.metrics`);
- ``publish/round-NNNN.npz`` + ``.json``: a model to publish (``publish``: after every aggregated
  round, or once with the final model), written by the ServerApp; ``publish.json``: what the
  coordinator daemon made of each (:mod:`cloud_coordinator.fl.publisher`), ``publish/round-NNNN.log``
  the export's log.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiotwin.bundle import VARIANT_IDS
from aiotwin.config import load_dataclass
from aiotwin.fl import DEFAULT_QUORUM_FRAC, AggregationConfig, FlConfigError
from aiotwin.flower.cloud import DEFAULT_EDGE_DEADLINE_S, EdgeRequest
from aiotwin.flower.job import EdgeJob, RoundRecord, RunDir, load_weights, read_json, save_weights, write_json
from aiotwin.models.task import Weights

DEFAULT_GLOBAL_DEADLINE_S = 600.0
BRIDGE_MARGIN_FRAC = 0.1  # default bridge timeout: the global deadline minus 10 % (at least 5 s)
MIN_BRIDGE_MARGIN_S = 5.0
PUBLISH_MODES = ("final", "every-round", "none")  # which global models become bundles in the model store
DEFAULT_PUBLISH = "final"
SETTLED_STATES = ("published", "skipped", "failed")  # a publication's final states ("exporting": in progress)


@dataclass(frozen=True)
class CloudJob(EdgeJob):
    """One global FL run (see the module docstring)."""

    deadline_s: float = DEFAULT_GLOBAL_DEADLINE_S
    local_rounds: int = 1
    edge_deadline_s: float = DEFAULT_EDGE_DEADLINE_S
    edge_quorum_frac: float = DEFAULT_QUORUM_FRAC
    edge_aggregation: AggregationConfig = field(default_factory=AggregationConfig)
    bridge_timeout_s: float | None = None  # default: deadline_s − max(10 %, 5 s)
    publish: str = DEFAULT_PUBLISH  # PUBLISH_MODES
    publish_variants: tuple[str, ...] = VARIANT_IDS  # those the task can build (tflite-edgetpu needs its compiler)

    def __post_init__(self) -> None:
        problems = _cloud_problems(self)
        try:
            super().__post_init__()
        except FlConfigError as exc:
            problems = list(exc.problems) + problems
        if problems:
            raise FlConfigError("global FL run", problems)

    @property
    def bridge_timeout(self) -> float:
        """How long a gateway may take for its local rounds before it must reply."""
        if self.bridge_timeout_s is not None:
            return self.bridge_timeout_s
        return self.deadline_s - max(BRIDGE_MARGIN_FRAC * self.deadline_s, MIN_BRIDGE_MARGIN_S)

    def edge_request(self) -> EdgeRequest:
        return EdgeRequest(local_rounds=self.local_rounds, deadline_s=self.edge_deadline_s,
                           quorum_frac=self.edge_quorum_frac, bridge_timeout_s=self.bridge_timeout,
                           aggregation=self.edge_aggregation)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _cloud_problems(j: CloudJob) -> list[str]:
    problems = []
    if not j.base_version.isdigit():
        problems.append(f"base-version must be an integer (the registry's model version), got {j.base_version!r}")
    if isinstance(j.local_rounds, bool) or not isinstance(j.local_rounds, int) or j.local_rounds < 1:
        problems.append(f"local-rounds must be an integer >= 1, got {j.local_rounds!r}")
    if not (_number(j.edge_quorum_frac) and j.edge_quorum_frac <= 1):
        problems.append(f"edge-quorum-frac must be in (0, 1], got {j.edge_quorum_frac!r}")
    if not _number(j.edge_deadline_s):
        problems.append(f"edge-deadline-s must be a number > 0, got {j.edge_deadline_s!r}")
    if j.bridge_timeout_s is not None and not _number(j.bridge_timeout_s):
        problems.append(f"bridge-timeout-s must be a number > 0, got {j.bridge_timeout_s!r}")
    problems += _publish_problems(j)
    if problems or not _number(j.deadline_s):
        return problems
    if not j.bridge_timeout < j.deadline_s:
        problems.append(f"bridge-timeout-s ({j.bridge_timeout:g}) must be shorter than the global round's "
                        f"deadline-s ({j.deadline_s:g}): a gateway must reply before the round closes")
    elif not j.edge_deadline_s <= j.bridge_timeout:
        problems.append(f"edge-deadline-s ({j.edge_deadline_s:g}) must not exceed the bridge timeout "
                        f"({j.bridge_timeout:g}); raise deadline-s")
    return problems


def _publish_problems(j: CloudJob) -> list[str]:
    problems = []
    if j.publish not in PUBLISH_MODES:
        problems.append(f"publish must be one of {', '.join(PUBLISH_MODES)}, got {j.publish!r}")
    unknown = [v for v in j.publish_variants if v not in VARIANT_IDS]
    if unknown:
        problems.append(f"publish-variants: unknown variant(s) {unknown} (known: {', '.join(VARIANT_IDS)})")
    if j.publish != "none" and not j.publish_variants:
        problems.append("publish-variants must name at least one variant (or publish = none)")
    return problems


def next_version(version: str) -> str:
    """The version a published global round makes from ``version`` (integers count up)."""
    return str(int(version) + 1)


@dataclass(frozen=True)
class Checkpoint:
    """Where a run stands after its last completed global round."""

    round: int
    version: str
    weights: Weights
    initial_eval: dict[str, float] | None = None


def publication_key(round_no: int) -> str:
    return f"round-{round_no:04d}"


@dataclass(frozen=True)
class PublishRequest:
    """A model the run wants published: the one after global ``round``, as ``version``, its weights file."""

    round: int
    version: str
    weights: Path

    @property
    def key(self) -> str:
        return publication_key(self.round)


class CloudRunDir(RunDir):
    """A global run's directory: :class:`RunDir` files, checkpoint and per-round metrics."""

    CHECKPOINT, CHECKPOINT_NPZ = "checkpoint.json", "checkpoint.npz"
    METRICS, METRICS_CSV = "metrics.json", "metrics.csv"
    PUBLISH_DIR, PUBLICATIONS = "publish", "publish.json"

    def read_job(self) -> CloudJob:
        data = self.read_record()
        if not isinstance(data.get("job"), dict):
            raise FlConfigError("global FL run", [f"{self.path / self.JOB} is missing or malformed"])
        return load_dataclass(CloudJob, data["job"], file=str(self.path / self.JOB))

    def read_record(self) -> dict[str, Any]:
        """All of ``job.json`` (the job, its seeds, who ran it); ``{}`` when missing."""
        try:
            data = json.loads((self.path / self.JOB).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_checkpoint(self, round_no: int, version: str, weights: Weights,
                         initial_eval: dict[str, float] | None = None) -> None:
        """The model after global round ``round_no`` (weights first, then the JSON that points at them)."""
        save_weights(self.path / self.CHECKPOINT_NPZ, weights)
        tmp = self.path / f".{self.CHECKPOINT}.tmp"
        data = {"round": round_no, "version": version, "initial_eval": initial_eval}
        tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
        tmp.replace(self.path / self.CHECKPOINT)

    def read_checkpoint(self) -> Checkpoint | None:
        """The model after the last completed round, or ``None`` before the first round finished."""
        try:
            data = json.loads((self.path / self.CHECKPOINT).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return Checkpoint(int(data["round"]), str(data["version"]), load_weights(self.path / self.CHECKPOINT_NPZ),
                          data.get("initial_eval"))

    def read_round_records(self) -> list[RoundRecord]:
        """``rounds.json`` as records (to continue them after a resume)."""
        return [RoundRecord(**r) for r in self.read_rounds()]

    # -- publication requests (ServerApp) and their outcomes (coordinator daemon) -------------------

    def request_publish(self, round_no: int, version: str, weights: Weights) -> None:
        """Ask the daemon to publish ``weights`` as ``version`` (the model after global round ``round_no``)."""
        folder = self.path / self.PUBLISH_DIR
        folder.mkdir(exist_ok=True)
        key = publication_key(round_no)
        save_weights(folder / f"{key}.npz", weights)
        write_json(folder / f"{key}.json", {"round": round_no, "version": version})  # last: the request is whole

    def publish_requests(self) -> list[PublishRequest]:
        """Every request of this run, by round."""
        out = []
        for path in sorted((self.path / self.PUBLISH_DIR).glob("round-[0-9]*.json")):
            data = read_json(path)
            if isinstance(data, dict) and "round" in data and "version" in data:
                out.append(PublishRequest(int(data["round"]), str(data["version"]), path.with_suffix(".npz")))
        return out

    def read_publications(self) -> dict[str, dict[str, Any]]:
        """``publish.json``: outcome per request key (``round-0003``); ``{}`` when none yet."""
        data = read_json(self.path / self.PUBLICATIONS)
        return data if isinstance(data, dict) else {}

    def unsettled_requests(self) -> list[PublishRequest]:
        """Requests without a final outcome (waiting, or ``exporting``)."""
        outcomes = self.read_publications()
        return [r for r in self.publish_requests() if outcomes.get(r.key, {}).get("state") not in SETTLED_STATES]

    def write_publication(self, key: str, outcome: dict[str, Any]) -> None:
        """Record one request's outcome (the coordinator daemon is the only writer of ``publish.json``)."""
        write_json(self.path / self.PUBLICATIONS, {**self.read_publications(), key: outcome})

    def read_metrics(self) -> list[dict[str, Any]]:
        try:
            data = json.loads((self.path / self.METRICS).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return data if isinstance(data, list) else []


def run_dir(work_dir: Path, run_id: str) -> CloudRunDir:
    return CloudRunDir(work_dir / "runs" / run_id)


__all__ = ["BRIDGE_MARGIN_FRAC", "DEFAULT_GLOBAL_DEADLINE_S", "DEFAULT_PUBLISH", "MIN_BRIDGE_MARGIN_S",
           "PUBLISH_MODES", "SETTLED_STATES", "Checkpoint", "CloudJob", "CloudRunDir", "PublishRequest",
           "next_version", "publication_key", "run_dir"]
