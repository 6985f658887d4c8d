"""Global FL runs on disk: submit, resume, list, wait, export (file work: no flwr, no torch at import).

The coordinator's ServerApp serves the job queue under the coordinator's work dir
(:class:`aiotwin.flower.JobQueue`), so any process on the coordinator host (``aiotwin-coordinator fl
start``) can queue a run while the daemon (``aiotwin-coordinator start``) is up.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt

from aiotwin.flower.job import HEARTBEAT_FILE, JobQueue, RunDir, load_weights, save_weights
from aiotwin.flower.protocol import round_seed
from aiotwin.models.task import Weights
from cloud_coordinator._exceptions import CoordinatorNotRunning, FlRunNotFound
from cloud_coordinator.fl.job import DEFAULT_PUBLISH, CloudJob, CloudRunDir
from cloud_coordinator.models.export import ExportSpec, export_bundle

_NEVER = threading.Event()
HEARTBEAT_STALE_S = 60.0  # the ServerApp beats at least every second
WAIT_POLL_S = 0.5


def job_record(job: CloudJob, **where: Any) -> dict[str, Any]:
    """What ``job.json`` records next to the job: seeds, the derived timeouts, where it runs."""
    return {"round-seeds": [round_seed(job.seed, r) for r in range(1, job.rounds + 1)],
            "edge-request": job.edge_request().to_config(), "message-ttl-s": job.ttl_s,
            "created-at": time.time(), **where}


def coordinator_alive(work_dir: Path, now: float | None = None) -> bool:
    beat = JobQueue(work_dir).read_heartbeat()
    if beat is None or beat.get("state") == "stopped":
        return False
    return float(beat.get("time", 0.0)) >= (time.time() if now is None else now) - HEARTBEAT_STALE_S


def require_coordinator(work_dir: Path) -> None:
    """:class:`CoordinatorNotRunning` unless a coordinator daemon serves ``work_dir``."""
    if not coordinator_alive(work_dir):
        raise CoordinatorNotRunning(f"no coordinator serves {work_dir} (no fresh {HEARTBEAT_FILE}); "
                                    "start one with `aiotwin-coordinator start --work-dir …`")


def submit_run(work_dir: Path, job: CloudJob, weights: Sequence[npt.NDArray[Any]]) -> CloudRunDir:
    """Queue a new global run for the running coordinator; returns its run directory."""
    require_coordinator(work_dir)
    queue = JobQueue(work_dir)
    run = CloudRunDir(queue.new_run(job, weights, **job_record(job)).path)
    queue.submit(run)
    return run


def find_run(work_dir: Path, run_id: str) -> CloudRunDir:
    run = CloudRunDir(work_dir / "runs" / run_id)
    if not (run.path / RunDir.JOB).is_file():
        raise FlRunNotFound(f"no FL run {run_id!r} under {work_dir / 'runs'}")
    return run


def resume_run(work_dir: Path, run_id: str, *, require_daemon: bool = True) -> CloudRunDir:
    """Queue an unfinished run again; it continues after its last completed global round."""
    if require_daemon:
        require_coordinator(work_dir)
    run = find_run(work_dir, run_id)
    run.write_status("queued", resumed=True)
    JobQueue(work_dir).submit(run)
    return run


def interrupted_runs(work_dir: Path) -> list[str]:
    """Runs left ``running`` by a coordinator that stopped (call before its ServerApp starts)."""
    return [run.run_id for run in map(CloudRunDir, sorted((work_dir / "runs").glob("*")))
            if (run.read_status() or {}).get("state") == "running"]


def list_runs(work_dir: Path) -> list[dict[str, Any]]:
    """One summary per run, oldest first."""
    return [run_summary(CloudRunDir(p)) for p in sorted((work_dir / "runs").glob("*")) if (p / RunDir.JOB).is_file()]


def run_summary(run: CloudRunDir) -> dict[str, Any]:
    status = run.read_status() or {}
    job = run.read_record().get("job", {})
    metrics = run.read_metrics()
    last = metrics[-1] if metrics else {}
    return {"run-id": run.run_id, "state": status.get("state", "?"), "rounds-done": len(metrics),
            "rounds": job.get("rounds"), "task": job.get("task"), "version": status.get("version", last.get(
                "version_out", job.get("base-version"))), "accuracy": last.get("accuracy"),
            "initial-accuracy": (status.get("initial_eval") or {}).get("accuracy"), "error": status.get("error"),
            "publish": job.get("publish", DEFAULT_PUBLISH), "published": run.read_publications()}


def wait_run(run: CloudRunDir, timeout_s: float, *, sleep: Callable[[float], Any] = _NEVER.wait,
             clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The run's final status (``done`` or ``failed``) once its models are published (or skipped, or failed).

    After ``timeout_s``: the last status seen.
    """
    give_up = clock() + timeout_s
    while True:
        status = run.read_status() or {}
        ended = status.get("state") in ("done", "failed")
        if (ended and not run.unsettled_requests()) or clock() >= give_up:
            return status
        sleep(WAIT_POLL_S)


def final_weights(run: CloudRunDir) -> Weights:
    """``result.npz`` of a finished run, else its checkpoint, else its initial weights."""
    if (run.path / RunDir.RESULT).is_file():
        return load_weights(run.path / RunDir.RESULT)
    checkpoint = run.read_checkpoint()
    return checkpoint.weights if checkpoint else load_weights(run.path / RunDir.INITIAL)


def export_run(run: CloudRunDir, out: Path, *, bundle: bool = False, variants: Sequence[str] = ("onnx-fp32",),
               ) -> dict[str, Any]:
    """Write ``global.npz`` (+ metrics, run record) to ``out``; with ``bundle`` also a model bundle.

    The bundle goes through the task's own export (:func:`cloud_coordinator.models.export_bundle`, in
    this process: it imports the task's torch) with the run's holdout as calibration and accuracy set;
    it needs the ``export`` extra. A failing bundle export is reported, the weights are still written.
    The coordinator's model store is not touched (the daemon publishes, see ``publish``).
    """
    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / "global.npz"
    save_weights(weights_path, final_weights(run))
    for name in (CloudRunDir.METRICS, CloudRunDir.METRICS_CSV, RunDir.ROUNDS):
        if (run.path / name).is_file():
            shutil.copyfile(run.path / name, out / name)
    summary = run_summary(run)
    (out / "run.json").write_text(json.dumps({**run.read_record(), "summary": summary}, indent=2) + "\n",
                                  encoding="utf-8")
    report: dict[str, Any] = {"run-id": run.run_id, "weights": str(weights_path), "version": summary["version"],
                              "bundle": None}
    if bundle:
        report["bundle"] = _export_bundle(run, weights_path, out / "bundle", variants, str(summary["version"]))
    return report


def _export_bundle(run: CloudRunDir, weights: Path, out: Path, variants: Sequence[str],
                   version: str) -> dict[str, Any]:
    job = run.read_job()
    if job.holdout_npz is None:
        return {"error": "the run has no holdout: a bundle needs it for calibration and accuracy"}
    if not version.isdigit():
        return {"error": f"the run's version {version!r} is not an integer (a bundle version must be)"}
    spec = ExportSpec(task=job.task, weights=weights, version=int(version), holdout_npz=job.holdout_npz, out=out,
                      variants=tuple(variants), task_kwargs=dict(job.task_kwargs), seed=job.seed,
                      trained_layers=job.layers)
    try:
        written = export_bundle(spec)
    except Exception as exc:  # no export, missing extra, a backend's own error: the weights are written
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"path": str(out), "name": written.manifest.name, "version": version,
            "variants": sorted(written.manifest.variants)}


__all__ = ["HEARTBEAT_STALE_S", "WAIT_POLL_S", "coordinator_alive", "export_run", "final_weights", "find_run",
           "interrupted_runs", "job_record", "list_runs", "require_coordinator", "resume_run", "run_summary",
           "submit_run", "wait_run"]
