"""The coordinator's FL daemon: its Flower SuperLink and the global ServerApp.

:class:`FlCoordinator` is an :class:`aiotwin.flower.host.AggregatorHost` (the same SuperLink +
long-lived ServerApp + file job queue as a gateway's edge aggregator, restarted with backoff when
the SuperLink dies) whose App names the global ServerApp (:mod:`cloud_coordinator.fl.server_app`)
and the gateways' cloud-tier ClientApp (:mod:`aiotwin.flower.gateway_client_app`). Gateways run a
SuperNode against :attr:`FlCoordinator.address`. On start, runs that a previous coordinator left
``running`` are queued again and resume after their last completed global round (``resume=True``).

The daemon also owns the model store (``<work>/models``): its :class:`~cloud_coordinator.fl.publisher.Publisher`
turns the global models the runs hand over (``publish``) into bundles, exported in a worker process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiotwin.flower.host import AggregatorHost, HostConfig
from aiotwin.flower.job import EdgeJob
from aiotwin.retry import Backoff
from cloud_coordinator.fl.job import CloudJob
from cloud_coordinator.fl.publisher import Publisher
from cloud_coordinator.fl.runs import WAIT_POLL_S, find_run, interrupted_runs, job_record, resume_run

_LOG = logging.getLogger("cloud_coordinator.fl")

DEFAULT_COORDINATOR_PORT = 9192  # the gateways' SuperNodes connect here (edge SuperLinks use 9092)


class FlCoordinator(AggregatorHost):
    """The coordinator's SuperLink + global ServerApp; ``async start()``, ``run_job()``, ``async shutdown()``."""

    SERVERAPP = "cloud_coordinator.fl.server_app:app"
    CLIENTAPP = "aiotwin.flower.gateway_client_app:app"
    APP = "aiotwin-global"
    ROLE = "coordinator"

    def __init__(self, config: HostConfig, *, env: Mapping[str, str] | None = None, backoff: Backoff | None = None,
                 resume: bool = True, publisher: Publisher | None = None) -> None:
        super().__init__(config, env=env, backoff=backoff)
        self.resume = resume
        self.resumed: list[str] = []
        self.publisher = publisher or Publisher(config.work_dir, env=env)

    async def start(self) -> None:
        """The model store first (its writer lock: one coordinator per work dir), then SuperLink + ServerApp."""
        interrupted = await asyncio.to_thread(interrupted_runs, self.config.work_dir)
        await self.publisher.start()
        await super().start()
        for run_id in interrupted:
            if self.resume:
                await asyncio.to_thread(resume_run, self.config.work_dir, run_id, require_daemon=False)
                self.resumed.append(run_id)
                _LOG.info("run %s was interrupted: resuming it after its last completed round", run_id)
            else:
                _LOG.warning("run %s was interrupted; resume it with `aiotwin-coordinator fl start --resume %s`",
                             run_id, run_id)

    async def shutdown(self) -> None:
        await self.publisher.shutdown()
        await super().shutdown()

    async def wait_published(self, run_id: str, timeout_s: float) -> dict[str, dict[str, Any]]:
        """The run's publication outcomes once every request is settled (or what there is after ``timeout_s``)."""
        run = await asyncio.to_thread(find_run, self.config.work_dir, run_id)
        give_up = time.monotonic() + timeout_s
        while True:
            if not await asyncio.to_thread(run.unsettled_requests) or time.monotonic() >= give_up:
                return await asyncio.to_thread(run.read_publications)
            await asyncio.sleep(WAIT_POLL_S)

    def job_record(self, job: EdgeJob) -> dict[str, Any]:
        where = {"superlink": self.address, "flower-run-id": self.flower_run_id}
        return job_record(job, **where) if isinstance(job, CloudJob) else super().job_record(job)


__all__ = ["DEFAULT_COORDINATOR_PORT", "FlCoordinator"]
