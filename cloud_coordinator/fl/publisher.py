"""Publishing global models: the FL runs' requests → bundles in the coordinator's model store.

The global ServerApp (a Flower process that imports no torch) only writes a request into the run
directory (:meth:`CloudRunDir.request_publish`): after every aggregated global round with
``publish = "every-round"``, once with the final model with ``"final"`` (the default), never with
``"none"``. The coordinator daemon's :class:`Publisher` watches the run directories and handles each
request once, one at a time:

1. a run without a holdout is **skipped** (a bundle needs one for calibration and its accuracy);
2. a request whose run and round are already in the store is **published** (a restarted daemon);
3. otherwise the weights are exported with every variant of ``publish_variants`` the task can build,
   in a worker process (:func:`cloud_coordinator.models.async_export`; the event loop never waits on
   it), into a staging dir of the store, with the run's holdout as calibration and accuracy set;
4. the bundle is published atomically (:meth:`ModelStore.publish`: loads, sha256 checks, rename + index).

A task without a bundle export (the numpy test task) is **skipped**; an export or store error is
**failed**. Either way the run itself stays as it ended. Outcomes go to the run's ``publish.json``
(``aiotwin-coordinator fl status`` shows them) and the export's log to ``publish/round-NNNN.log``.
A request still ``exporting`` when the daemon stopped is handled again by the next one.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiotwin._exceptions import AiotwinError
from aiotwin.lifecycle import TaskSet
from cloud_coordinator._exceptions import ModelStoreError
from cloud_coordinator.fl.job import CloudJob, CloudRunDir, PublishRequest
from cloud_coordinator.models.export import EXPORT_TIMEOUT_S, ExportSpec, async_export
from cloud_coordinator.models.store import ModelRecord, ModelStore, Provenance, store_dir

_LOG = logging.getLogger("cloud_coordinator.fl.publisher")

PUBLISH_POLL_S = 1.0  # how soon a request is noticed (one glob over the run directories)


def _now() -> float:
    return time.time()


def published_outcome(record: ModelRecord) -> dict[str, Any]:
    """What ``publish.json`` says of a published request."""
    return {"state": "published", "name": record.name, "version": record.version, "path": str(record.path),
            "accuracy": record.accuracy, "variants": list(record.variants),
            "manifest-sha256": record.manifest_sha256}


class Publisher:
    """Watches ``<work>/runs/*/publish/`` and publishes each request; ``async start()``/``async shutdown()``.

    ``env`` is the export worker's environment (default: this process's).
    """

    def __init__(self, work_dir: Path, *, env: Mapping[str, str] | None = None, poll_s: float = PUBLISH_POLL_S,
                 export_timeout_s: float = EXPORT_TIMEOUT_S) -> None:
        self.work_dir = work_dir
        self.store: ModelStore | None = None
        self.handled = 0
        self._env = env
        self._poll_s = poll_s
        self._export_timeout_s = export_timeout_s
        self._settled: set[tuple[str, str]] = set()
        self._tasks = TaskSet()

    async def start(self) -> None:
        """Open the model store (its writer lock) and start watching."""
        self.store = await asyncio.to_thread(ModelStore.open, store_dir(self.work_dir))
        self._tasks.spawn(self._async_watch(), name="model-publisher")

    async def shutdown(self) -> None:
        """Stop watching (an export in progress is killed and handled again next start); close the store."""
        await self._tasks.close()
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    async def _async_watch(self) -> None:
        while True:
            try:
                pending = await asyncio.to_thread(self.pending)
            except (OSError, ValueError) as exc:  # a run dir being removed, a hand-edited publish.json
                _LOG.error("cannot scan %s for models to publish: %s", self.work_dir / "runs", exc)
                pending = []
            for run, request in pending:
                try:
                    await self.async_publish(run, request)
                except (AiotwinError, OSError, ValueError) as exc:  # a run dir we cannot use: log it, move on
                    _LOG.error("run %s %s: cannot publish or record it: %s", run.run_id, request.key, exc)
                    self._settled.add((run.run_id, request.key))
            await asyncio.sleep(self._poll_s)

    def pending(self) -> list[tuple[CloudRunDir, PublishRequest]]:
        """Requests without a final outcome, oldest run first (blocking: reads the run directories)."""
        runs: dict[str, CloudRunDir] = {}
        for path in sorted(self.work_dir.glob(f"runs/*/{CloudRunDir.PUBLISH_DIR}/round-[0-9]*.json")):
            run_id, key = path.parent.parent.name, path.stem
            if (run_id, key) not in self._settled:
                runs.setdefault(run_id, CloudRunDir(path.parent.parent))
        out = []
        for run in runs.values():
            unsettled = {r.key: r for r in run.unsettled_requests()}
            self._settled |= {(run.run_id, r.key) for r in run.publish_requests() if r.key not in unsettled}
            out += [(run, r) for key, r in unsettled.items() if (run.run_id, key) not in self._settled]
        return out

    async def async_publish(self, run: CloudRunDir, request: PublishRequest) -> dict[str, Any]:
        """Handle one request (steps in the module docstring); returns and records its outcome."""
        started = {"state": "exporting", "round": request.round, "version": request.version, "time": _now()}
        await asyncio.to_thread(run.write_publication, request.key, started)
        t0 = time.monotonic()
        outcome = {**await self._async_outcome(run, request), "round": request.round,
                   "seconds": round(time.monotonic() - t0, 2), "time": _now()}
        await asyncio.to_thread(run.write_publication, request.key, outcome)
        self._settled.add((run.run_id, request.key))
        self.handled += 1
        if outcome["state"] == "published":
            _LOG.info("run %s round %d: published %s version %s (accuracy %s) in %.1f s", run.run_id, request.round,
                      outcome["name"], outcome["version"], outcome["accuracy"], outcome["seconds"])
        else:
            _LOG.warning("run %s round %d: model not published (%s): %s", run.run_id, request.round,
                         outcome["state"], outcome.get("reason") or outcome.get("error"))
        return outcome

    async def _async_outcome(self, run: CloudRunDir, request: PublishRequest) -> dict[str, Any]:
        assert self.store is not None, "start() first"
        try:
            job = await asyncio.to_thread(run.read_job)
        except AiotwinError as exc:
            return {"state": "failed", "error": f"cannot read the run's job: {exc}"}
        if job.holdout_npz is None:
            return {"state": "skipped", "version": request.version,
                    "reason": "the run has no holdout (--holdout-npz): a bundle needs one for int8 calibration "
                              f"and its accuracy; the weights stay in {request.weights}"}
        found = await asyncio.to_thread(self.store.for_round, run.run_id, request.round)
        if found is not None:
            return published_outcome(found)
        return await self._async_export_and_publish(run, job, request)

    async def _async_export_and_publish(self, run: CloudRunDir, job: CloudJob,
                                        request: PublishRequest) -> dict[str, Any]:
        assert self.store is not None
        assert job.holdout_npz is not None
        staging = await asyncio.to_thread(self.store.staging_dir)
        try:
            spec = ExportSpec(task=job.task, weights=request.weights, version=int(request.version),
                              holdout_npz=job.holdout_npz, out=staging / "bundle", variants=job.publish_variants,
                              task_kwargs=dict(job.task_kwargs), seed=job.seed, trained_layers=job.layers)
            log_path = run.path / CloudRunDir.PUBLISH_DIR / f"{request.key}.log"
            result = await async_export(spec, staging, log_path=log_path, env=self._env,
                                        timeout_s=self._export_timeout_s)
            if result.state == "unsupported":
                return {"state": "skipped", "version": request.version, "reason": result.error}
            if result.state != "exported":
                return {"state": "failed", "version": request.version, "error": result.error}
            provenance = Provenance(run.run_id, request.round, job.base_version, str(job.holdout_npz))
            record = await asyncio.to_thread(self.store.publish, spec.out, provenance)
        except ModelStoreError as exc:
            return {"state": "failed", "version": request.version, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            await asyncio.to_thread(shutil.rmtree, staging, True)
        return published_outcome(record)


__all__ = ["PUBLISH_POLL_S", "Publisher", "published_outcome"]
