"""The coordinator's federated learning: the global tier of hierarchical FL (docs/fl.md).

- :mod:`cloud_coordinator.fl.job`: :class:`CloudJob` (a global run's config), its run directory
  and checkpoint (pure);
- :mod:`cloud_coordinator.fl.metrics`: per-round metrics per tier, JSON and CSV (pure);
- :mod:`cloud_coordinator.fl.runs`: submit, resume, list, wait for and export runs (files only);
- :mod:`cloud_coordinator.fl.coordinator`: :class:`FlCoordinator`, the SuperLink + global ServerApp daemon;
- :mod:`cloud_coordinator.fl.publisher`: :class:`Publisher`, the daemon's part that turns the runs'
  global models into bundles in the model store (:mod:`cloud_coordinator.models`);
- :mod:`cloud_coordinator.fl.trigger`: when to start a run: drift reports, a schedule (pure; not
  wired yet: the fleet registry will feed it the gateways' drift events);
- :mod:`cloud_coordinator.fl.global_loop` and :mod:`~cloud_coordinator.fl.server_app` import flwr
  and are loaded only by Flower's ServerApp process (and tests).

Importing this package imports neither flwr nor torch.
"""

from cloud_coordinator.fl.coordinator import DEFAULT_COORDINATOR_PORT, FlCoordinator
from cloud_coordinator.fl.job import PUBLISH_MODES, Checkpoint, CloudJob, CloudRunDir, PublishRequest, next_version
from cloud_coordinator.fl.metrics import metrics_csv, run_metrics
from cloud_coordinator.fl.publisher import Publisher
from cloud_coordinator.fl.runs import (
    coordinator_alive,
    export_run,
    find_run,
    list_runs,
    resume_run,
    submit_run,
    wait_run,
)
from cloud_coordinator.fl.trigger import Decision, DriftReport, TriggerPolicy, decide

__all__ = [
    "DEFAULT_COORDINATOR_PORT", "PUBLISH_MODES", "Checkpoint", "CloudJob", "CloudRunDir", "Decision", "DriftReport",
    "FlCoordinator", "PublishRequest", "Publisher", "TriggerPolicy", "coordinator_alive", "decide", "export_run",
    "find_run", "list_runs", "metrics_csv", "next_version", "resume_run", "run_metrics", "submit_run", "wait_run",
]
