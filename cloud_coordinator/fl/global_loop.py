"""The global round loop: the edge tier's :class:`~aiotwin.flower.edge_loop.EdgeLoop` over the gateways.

The same deadline + quorum rounds, strict update decoding and :func:`aiotwin.fl.aggregate` (the
job's rule, clipping always on), with three differences:

- each train message carries the ``"edge"`` record (:meth:`CloudJob.edge_request`): the gateways'
  local rounds, edge deadline and quorum, and the bridge timeout;
- the base version advances: a round that publishes a model makes ``version + 1``, and the next
  round rejects updates trained on anything else (:class:`aiotwin.fl.VersionMismatch`);
- after every round the model and its version are checkpointed and the per-round metrics
  (:mod:`cloud_coordinator.fl.metrics`) rewritten, so a restarted coordinator resumes from the last
  completed round; with ``publish = "every-round"`` each aggregated model is also handed to the
  coordinator daemon for the model store (:meth:`CloudRunDir.request_publish`).

Imports flwr (through the edge loop): loaded only by the global ServerApp's process and tests.
"""

from __future__ import annotations

import json
from typing import Any

from flwr.app import ConfigRecord

from aiotwin.flower.cloud import REC_EDGE
from aiotwin.flower.edge_loop import EdgeLoop
from aiotwin.flower.job import RoundRecord
from aiotwin.flower.protocol import TrainInstruction
from aiotwin.flower.records import instruction_content
from aiotwin.models.task import Weights
from cloud_coordinator.fl.job import CloudJob, CloudRunDir, next_version
from cloud_coordinator.fl.metrics import metrics_csv, run_metrics


class GlobalLoop(EdgeLoop):
    """Runs one :class:`CloudJob` over the coordinator's Grid (the gateways' SuperNodes)."""

    job: CloudJob
    run: CloudRunDir

    def message_content(self, instruction: TrainInstruction, weights: Weights) -> Any:
        content = instruction_content(instruction, weights)
        content[REC_EDGE] = ConfigRecord(self.job.edge_request().to_config())
        return content

    def round_done(self, record: RoundRecord, weights: Weights) -> None:
        if record.aggregated:
            self.base_version = next_version(self.base_version)
            if self.job.publish == "every-round":
                self.run.request_publish(record.round, self.base_version, weights)
        self.run.write_checkpoint(record.round, self.base_version, weights, self.initial_eval)
        rows = run_metrics([r.to_dict() for r in self.records])
        self.run.path.joinpath(CloudRunDir.METRICS).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        self.run.path.joinpath(CloudRunDir.METRICS_CSV).write_text(metrics_csv(rows), encoding="utf-8")


__all__ = ["GlobalLoop"]
