"""The gateway's edge-tier aggregator: its own Flower SuperLink and the local aggregation loop.

:class:`EdgeAggregator` is an :class:`aiotwin.flower.host.AggregatorHost` running the edge ServerApp
(:mod:`aiotwin.flower.server_app`): it starts ``flower-superlink``, submits the ServerApp once with
``flwr run`` and restarts both with backoff when the SuperLink dies. :meth:`EdgeAggregator.run_job`
queues one :class:`~aiotwin.flower.EdgeJob` (N rounds from given weights of a base version) and waits
for its result. The cloud tier's bridge (:mod:`gateway.fl.cloud`) calls it with the global model.

Layout under ``work_dir``: ``app/`` (the Flower App), ``flwr-home/{superlink,cli}``,
``logs/superlink.log``, and the job queue's ``runs/``, ``queue/``, ``serverapp.json``.
"""

from __future__ import annotations

from aiotwin.flower.host import DEFAULT_SUPERLINK_PORT, AggregatorHost, HostConfig, JobResult

EdgeAggregatorConfig = HostConfig
EdgeResult = JobResult


class EdgeAggregator(AggregatorHost):
    """A gateway's SuperLink + edge ServerApp; ``async start()``, ``run_job()``, ``async shutdown()``."""

    SERVERAPP = "aiotwin.flower.server_app:app"
    CLIENTAPP = "aiotwin.flower.client_app:app"
    ROLE = "edge aggregator"


__all__ = ["DEFAULT_SUPERLINK_PORT", "EdgeAggregator", "EdgeAggregatorConfig", "EdgeResult"]
