"""Prometheus gauges of a gateway's FL part, read from its work dir when ``/metrics`` is scraped.

:class:`FlCollector` joins the router's registry while ``[fl]`` runs (``aiotwin-gateway start``).
It reads the same files as ``aiotwin-gateway fl status`` (:mod:`gateway.fl._admin`): the edge
ServerApp's heartbeat and the run directories of the edge queue and the bridge. A run that reached
``done`` or ``failed`` never changes again, so its state is read once and kept. Collection is
blocking file I/O; the router renders its metrics in a worker thread.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from aiotwin.flower.job import HEARTBEAT_FILE, RunDir
from gateway.fl._admin import heartbeat_status, run_dirs, run_state
from gateway.fl.cloud import BRIDGE_DIR, EDGE_DIR

NAMESPACE = "aiotwin_gateway_fl"
RUN_STATES = ("queued", "running", "done", "failed")
_FINAL = frozenset(("done", "failed"))


class FlCollector(Collector):  # type: ignore[misc]
    """``aiotwin_gateway_fl_*`` gauges of the FL work dir ``work_dir`` (``<data-dir>/fl``)."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._final: dict[Path, dict[str, str]] = {}  # queue dir → run id → done|failed

    def _families(self) -> list[GaugeMetricFamily]:
        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, labels=list(labels))

        return [
            gauge("edge_serverapp_up", "1 while the edge ServerApp heartbeats (it serves edge jobs), else 0."),
            gauge("edge_nodes", "Camera SuperNodes connected to the edge SuperLink at the ServerApp's last beat."),
            gauge("edge_runs", "Edge jobs (one per global round, or per run) by state.", ("state",)),
            gauge("last_edge_run_state", "1 for the state of the newest edge job, 0 for the others.", ("state",)),
            gauge("last_edge_run_timestamp_seconds", "Unix time of the newest edge job's last status change."),
            gauge("global_rounds", "Global rounds the coordinator handed to this gateway (bridge jobs) by state.",
                  ("state",)),
        ]

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def _states(self, queue_dir: Path) -> tuple[Counter[str], RunDir | None]:
        known = self._final.setdefault(queue_dir, {})
        counts: Counter[str] = Counter()
        runs = run_dirs(queue_dir)
        for run in runs:
            state = known.get(run.run_id) or run_state(run)
            if state in _FINAL:
                known[run.run_id] = state
            counts[state] += 1
        return counts, runs[0] if runs else None

    def collect(self) -> Iterable[Metric]:
        up, nodes, edge_runs, last, last_ts, global_rounds = families = self._families()
        edge = self.work_dir / EDGE_DIR
        beat = heartbeat_status(edge / HEARTBEAT_FILE, time.time()) or {}
        up.add_metric([], 0.0 if beat.get("state", "gone") == "gone" else 1.0)
        nodes.add_metric([], float(len(beat.get("nodes", []))))
        counts, newest = self._states(edge)
        for state in (*RUN_STATES, *sorted(set(counts) - set(RUN_STATES))):
            edge_runs.add_metric([state], float(counts[state]))
        status = (newest.read_status() or {}) if newest is not None else {}
        for state in RUN_STATES:
            last.add_metric([state], 1.0 if status.get("state") == state else 0.0)
        last_ts.add_metric([], float(status.get("time", 0.0)))
        bridge, _ = self._states(self.work_dir / BRIDGE_DIR)
        for state in RUN_STATES:
            global_rounds.add_metric([state], float(bridge[state]))
        return families


__all__ = ["NAMESPACE", "RUN_STATES", "FlCollector"]
