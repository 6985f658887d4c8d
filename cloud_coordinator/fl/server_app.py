"""The global ServerApp (component ``cloud_coordinator.fl.server_app:app``): the coordinator's aggregation loop.

The coordinator daemon submits it once with ``flwr run`` against its own SuperLink
(:class:`cloud_coordinator.fl.FlCoordinator`); it then serves the coordinator's job queue exactly
like the edge ServerApp (:func:`aiotwin.flower.server_app.serve`), running each global run with
:class:`~cloud_coordinator.fl.global_loop.GlobalLoop`. A run with a checkpoint continues after its
last completed global round (resume after a coordinator restart). With ``publish = "final"`` a
finished run hands its last aggregated model to the coordinator daemon for the model store
(:meth:`CloudRunDir.request_publish`, before the status says ``done``); the daemon exports it.
This process imports no torch for that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from aiotwin.flower.job import JobQueue, RunDir, load_weights, save_weights
from aiotwin.flower.server_app import RUN_CONFIG_WORK_DIR, holdout_evaluator, serve
from aiotwin.models.task import Weights
from cloud_coordinator.fl.global_loop import GlobalLoop
from cloud_coordinator.fl.job import Checkpoint, CloudJob, CloudRunDir

_LOG = logging.getLogger("cloud_coordinator.fl.server_app")

app = ServerApp()


@app.main()  # type: ignore[untyped-decorator]
def main(grid: Grid, context: Context) -> None:
    work = Path(str(context.run_config[RUN_CONFIG_WORK_DIR]))
    serve(grid, JobQueue(work), flower_run_id=int(context.run_id), runner=run_global_job)


def _start_point(run: CloudRunDir, job: CloudJob) -> Checkpoint:
    """Where the run starts: its initial weights, or its checkpoint (resume) when there is one."""
    checkpoint = run.read_checkpoint()
    if checkpoint is None:
        return Checkpoint(0, job.base_version, load_weights(run.path / RunDir.INITIAL))
    _LOG.info("run %s resumes after global round %d (version %s)", run.run_id, checkpoint.round, checkpoint.version)
    return checkpoint


def run_global_job(grid: Any, run: RunDir, queue: JobQueue, *, flower_run_id: int | None = None,
                   **loop_options: Any) -> None:
    """One global run, start (or resume) to status file; never raises.

    ``loop_options`` go to :class:`GlobalLoop` (tests inject a clock and a message factory).
    """
    run = CloudRunDir(run.path)
    try:
        job = run.read_job()
        start = _start_point(run, job)
        records = run.read_round_records()[:start.round]
        evaluator = holdout_evaluator(job)
    except Exception as exc:
        _LOG.exception("global run %s cannot start", run.run_id)
        run.write_status("failed", error=f"cannot start: {exc}")
        return
    run.write_status("running", flower_run_id=flower_run_id, first_round=start.round + 1)

    def beat(nodes: Sequence[int], state: str) -> None:
        queue.heartbeat(nodes=nodes, state=state, run_id=run.run_id)

    loop = GlobalLoop(grid, job, run, evaluator=evaluator, beat=beat, stop_requested=queue.stop_requested,
                      **loop_options)
    loop.records, loop.base_version, loop.initial_eval = records, start.version, start.initial_eval
    try:
        result = loop.run_rounds(start.weights, first_round=start.round + 1)
    except Exception as exc:
        _LOG.exception("global run %s failed", run.run_id)
        run.write_status("failed", error=str(exc), rounds=len(loop.records), initial_eval=loop.initial_eval,
                         version=loop.base_version)
        return
    save_weights(run.path / RunDir.RESULT, result)
    published = [r for r in loop.records if r.aggregated]
    run.write_status("done", rounds=len(loop.records), aggregated_rounds=len(published), version=loop.base_version,
                     initial_eval=loop.initial_eval, final_eval=published[-1].eval if published else None,
                     flower_run_id=flower_run_id, publish_error=_request_final(run, job, loop, result))


def _request_final(run: CloudRunDir, job: CloudJob, loop: GlobalLoop, result: Weights) -> str | None:
    """With ``publish = "final"``: hand the last aggregated model to the daemon; the error, if that fails."""
    published = [r for r in loop.records if r.aggregated]
    if job.publish != "final" or not published:
        return None
    try:
        run.request_publish(published[-1].round, loop.base_version, result)
    except OSError as exc:
        _LOG.exception("run %s: cannot hand the final model over for publishing", run.run_id)
        return str(exc)
    return None


__all__ = ["app", "main", "run_global_job"]
