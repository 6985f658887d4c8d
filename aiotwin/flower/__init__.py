"""Flower apps and plumbing shared by the FL tiers (docs/fl.md).

- :mod:`aiotwin.flower.protocol`: what aggregator and nodes say to each other (pure);
- :mod:`aiotwin.flower.job`: edge jobs, their run directories and the job queue (pure);
- :mod:`aiotwin.flower.procs`: starting/stopping ``flower-superlink``/``flower-supernode`` trees;
- :mod:`aiotwin.flower.project`: the Flower App (pyproject only) and ``flwr run``;
- :mod:`aiotwin.flower.local`: one node's training step without Flower;
- :mod:`aiotwin.flower.edge_loop`, :mod:`~aiotwin.flower.server_app`, :mod:`~aiotwin.flower.client_app`
  and :mod:`~aiotwin.flower.records` import flwr and are loaded only by Flower's own processes.

Importing this package imports neither flwr nor torch.
"""

from aiotwin.flower._exceptions import (
    ClientTrainError,
    EdgeJobFailed,
    FlowerError,
    FlowerMissing,
    FlowerProcessError,
)
from aiotwin.flower.job import EdgeJob, JobQueue, RoundRecord, RunDir, load_weights, new_run_id, save_weights
from aiotwin.flower.procs import FlowerProcess, descendants, flower_env, flower_executable, node_config_toml
from aiotwin.flower.protocol import PROTOCOL_VERSION, TrainInstruction

__all__ = [
    "PROTOCOL_VERSION",
    "ClientTrainError",
    "EdgeJob",
    "EdgeJobFailed",
    "FlowerError",
    "FlowerMissing",
    "FlowerProcess",
    "FlowerProcessError",
    "JobQueue",
    "RoundRecord",
    "RunDir",
    "TrainInstruction",
    "descendants",
    "flower_env",
    "flower_executable",
    "load_weights",
    "new_run_id",
    "node_config_toml",
    "save_weights",
]
