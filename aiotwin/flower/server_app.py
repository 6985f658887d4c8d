"""The edge tier's ServerApp (component ``aiotwin.flower.server_app:app``): a gateway's aggregation loop.

A gateway daemon starts it once, with ``flwr run`` against its own SuperLink
(:mod:`gateway.fl`); run config ``work-dir`` names the work directory of
:class:`aiotwin.flower.job.JobQueue`. It then serves jobs from that queue, one after another,
until the daemon writes ``STOP``: each job is :class:`aiotwin.flower.edge_loop.EdgeLoop` over the
Grid, its result and per-round records written to the job's run directory. A failing job is
recorded as failed and the loop goes on. Between jobs it heartbeats (``serverapp.json``: time,
connected node ids), so the daemon sees the loop alive and knows its nodes without Flower internals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt
from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from aiotwin.flower.edge_loop import EdgeLoop, Evaluator
from aiotwin.flower.job import EdgeJob, JobQueue, RunDir, load_weights, save_weights
from aiotwin.flower.samples import npz_samples
from aiotwin.models.task import ArrayStore, load_task

_LOG = logging.getLogger("aiotwin.flower.server_app")
_NEVER = threading.Event()

RUN_CONFIG_WORK_DIR = "work-dir"
IDLE_POLL_S = 0.25  # how soon a queued job starts
HEARTBEAT_S = 1.0  # between jobs; during a round the loop beats every poll

app = ServerApp()


@app.main()  # type: ignore[untyped-decorator]
def main(grid: Grid, context: Context) -> None:
    work = Path(str(context.run_config[RUN_CONFIG_WORK_DIR]))
    serve(grid, JobQueue(work), flower_run_id=int(context.run_id))


JobRunner = Callable[..., None]


def serve(grid: Any, queue: JobQueue, *, flower_run_id: int | None = None, idle_s: float = IDLE_POLL_S,
          sleep: Callable[[float], Any] = _NEVER.wait, clock: Callable[[], float] = time.monotonic,
          runner: JobRunner | None = None) -> int:
    """Run queued jobs until ``STOP``; returns how many jobs ran.

    ``runner(grid, run, queue, flower_run_id=…)`` runs one job (default :func:`run_job`, the edge tier's).
    """
    run_one = runner or run_job
    queue.ensure()
    jobs, last_beat = 0, float("-inf")
    while not queue.stop_requested():
        if clock() - last_beat >= HEARTBEAT_S:
            queue.heartbeat(nodes=[int(n) for n in grid.get_node_ids()], state="idle")
            last_beat = clock()
        run = queue.claim()
        if run is None:
            sleep(idle_s)
            continue
        run_one(grid, run, queue, flower_run_id=flower_run_id)
        jobs, last_beat = jobs + 1, float("-inf")
    queue.heartbeat(nodes=[], state="stopped")
    return jobs


def run_job(grid: Any, run: RunDir, queue: JobQueue, *, flower_run_id: int | None = None) -> None:
    """One job, start to status file; never raises (the loop must survive a bad job)."""
    try:
        job = run.read_job()
        weights = load_weights(run.path / RunDir.INITIAL)
        evaluator = holdout_evaluator(job)
    except Exception as exc:
        _LOG.exception("job %s cannot start", run.run_id)
        run.write_status("failed", error=f"cannot start: {exc}")
        return
    run.write_status("running", flower_run_id=flower_run_id)

    def beat(nodes: Sequence[int], state: str) -> None:
        queue.heartbeat(nodes=nodes, state=state, run_id=run.run_id)

    loop = EdgeLoop(grid, job, run, evaluator=evaluator, beat=beat, stop_requested=queue.stop_requested)
    try:
        result = loop.run_rounds(weights)
    except Exception as exc:
        _LOG.exception("job %s failed", run.run_id)
        run.write_status("failed", error=str(exc), rounds=len(loop.records), initial_eval=loop.initial_eval)
        return
    save_weights(run.path / RunDir.RESULT, result)
    published = [r for r in loop.records if r.aggregated]
    run.write_status("done", rounds=len(loop.records), aggregated_rounds=len(published),
                     initial_eval=loop.initial_eval, final_eval=published[-1].eval if published else None,
                     flower_run_id=flower_run_id)


def holdout_evaluator(job: EdgeJob) -> Evaluator | None:
    """Accuracy/loss of a model on the job's ``holdout_npz`` (``None`` without one)."""
    if job.holdout_npz is None:
        return None
    store = ArrayStore(*npz_samples(job.holdout_npz))
    task = load_task(job.task, **{**job.task_kwargs, "seed": job.seed})

    def evaluate(weights: Sequence[npt.NDArray[Any]]) -> dict[str, float]:
        task.set_weights(weights)
        found = task.evaluate(store)
        return {k: float(found[k]) for k in ("accuracy", "loss") if k in found}

    return evaluate


__all__ = ["HEARTBEAT_S", "IDLE_POLL_S", "RUN_CONFIG_WORK_DIR", "JobRunner", "app", "holdout_evaluator", "main",
           "run_job", "serve"]
