"""``python -m gateway.fl run|serve …``: the gateway's FL part without the rest of the gateway daemon.

``serve`` runs the gateway in the two-tier federation until SIGTERM: its edge SuperLink and
ServerApp, the bridge, and a cloud-tier SuperNode pointed at the coordinator
(:class:`gateway.fl.GatewayFederation`). ``run`` is one edge-tier job on its own: it starts the
SuperLink and the edge ServerApp, waits for ``--min-nodes`` SuperNodes, runs the job and writes a
JSON summary (run id, run directory, per-round accepted/rejected/missing, holdout accuracy) to
stdout. Until ``aiotwin-gateway start`` runs these, this is how to drive them (docs/fl.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from aiotwin._exceptions import AiotwinError
from aiotwin.fl import RULES, AggregationConfig
from aiotwin.flower import EdgeJob, load_weights
from aiotwin.lifecycle import run_daemon
from aiotwin.models.task import Weights, load_task
from gateway.fl.aggregator import DEFAULT_SUPERLINK_PORT, EdgeAggregator, EdgeAggregatorConfig
from gateway.fl.cloud import DEFAULT_CLOUD_RUNTIME_PORT, EdgeDefaults, FederationConfig, GatewayFederation

_LOG = logging.getLogger("gateway.fl")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gateway.fl", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="start the SuperLink, run one job, stop")
    run.add_argument("--work-dir", type=Path, required=True, help="SuperLink state, logs and run directories")
    run.add_argument("--host", default="127.0.0.1", help="SuperLink listen address (SuperNodes connect here)")
    run.add_argument("--port", type=int, default=DEFAULT_SUPERLINK_PORT)
    run.add_argument("--task", default="aiotwin.models.vehicle:VehicleClassifier")
    run.add_argument("--task-kwargs", default='{"arch": "edge"}', help="JSON keyword arguments of the task")
    run.add_argument("--base-version", required=True)
    run.add_argument("--weights", type=Path, help=".npz of the base weights (default: the task's initial ones)")
    run.add_argument("--rounds", type=int, default=1)
    run.add_argument("--epochs", type=int, default=1)
    run.add_argument("--layers", choices=("all", "head"), default="all")
    run.add_argument("--min-nodes", type=int, default=1)
    run.add_argument("--quorum", type=float, default=0.6, help="share of connected nodes needed per round")
    run.add_argument("--deadline-s", type=float, default=300.0)
    run.add_argument("--wait-nodes-s", type=float, default=120.0)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--rule", choices=RULES, default="fedavg")
    run.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"))
    run.add_argument("--holdout-npz", type=Path, help="x/y arrays the ServerApp evaluates every model on")
    run.add_argument("-v", "--verbose", action="store_true")
    serve = sub.add_parser("serve", help="edge SuperLink + bridge + cloud-tier SuperNode, until SIGTERM")
    serve.add_argument("--work-dir", type=Path, required=True, help="edge/, bridge/, cloud-supernode/")
    serve.add_argument("--coordinator", required=True, help="host:port of the coordinator's SuperLink")
    serve.add_argument("--gateway-id", required=True, help="this gateway's id (reported with its replies)")
    serve.add_argument("--host", default="127.0.0.1", help="edge SuperLink listen address (cameras connect here)")
    serve.add_argument("--port", type=int, default=DEFAULT_SUPERLINK_PORT, help="edge SuperLink port")
    serve.add_argument("--cloud-runtime-port", type=int, default=DEFAULT_CLOUD_RUNTIME_PORT)
    serve.add_argument("--min-nodes", type=int, default=1, help="cameras an edge round waits for")
    serve.add_argument("--wait-nodes-s", type=float, default=120.0)
    serve.add_argument("--holdout-npz", type=Path, help="x/y arrays the edge ServerApp evaluates on")
    serve.add_argument("-v", "--verbose", action="store_true")
    return p


def _serve(args: argparse.Namespace) -> int:
    edge = EdgeDefaults(min_nodes=args.min_nodes, wait_nodes_s=args.wait_nodes_s,
                        holdout_npz=args.holdout_npz.resolve() if args.holdout_npz else None)
    config = FederationConfig(args.work_dir.resolve(), args.coordinator, args.gateway_id, host=args.host,
                              port=args.port, cloud_runtime_port=args.cloud_runtime_port, edge=edge)
    return int(asyncio.run(run_daemon(GatewayFederation(config), name="gateway federation", logger=_LOG)))


def _job(args: argparse.Namespace) -> EdgeJob:
    return EdgeJob(task=args.task, base_version=args.base_version, rounds=args.rounds, epochs=args.epochs,
                   layers=args.layers, task_kwargs=json.loads(args.task_kwargs), seed=args.seed,
                   input_size=tuple(args.input_size) if args.input_size else None, quorum_frac=args.quorum,
                   deadline_s=args.deadline_s, min_nodes=args.min_nodes, wait_nodes_s=args.wait_nodes_s,
                   aggregation=AggregationConfig(rule=args.rule),
                   holdout_npz=args.holdout_npz.resolve() if args.holdout_npz else None)


def _weights(args: argparse.Namespace, job: EdgeJob) -> Weights:
    if args.weights is not None:
        return load_weights(args.weights)
    return load_task(job.task, **{**job.task_kwargs, "seed": job.seed}).get_weights()


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    job = _job(args)
    weights = await asyncio.to_thread(_weights, args, job)
    agg = EdgeAggregator(EdgeAggregatorConfig(args.work_dir.resolve(), host=args.host, port=args.port))
    try:
        await agg.start()
        _LOG.info("SuperLink at %s: point SuperNodes here ([fl] superlink)", agg.address)
        result = await agg.run_job(job, weights)
    finally:
        await agg.shutdown()
    keys = ("round", "duration_s", "accepted", "rejected", "late", "missing", "aggregated", "eval")
    return {"run-id": result.run_id, "run-dir": str(result.path), "status": result.status,
            "rounds": [{k: r.get(k) for k in keys} for r in result.rounds]}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.verb == "serve":
            return _serve(args)
        summary = asyncio.run(_run(args))
    except (AiotwinError, ValueError) as exc:
        _LOG.error("%s", exc, exc_info=args.verbose)
        return 1
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
