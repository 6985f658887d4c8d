"""``python -m gateway.fl run|serve|register-node|node-key``: the gateway's FL part, without the gateway daemon.

``serve`` runs the gateway in the two-tier federation until SIGTERM: its edge SuperLink and
ServerApp, the bridge, and a cloud-tier SuperNode pointed at the coordinator
(:class:`gateway.fl.GatewayFederation`). ``run`` is one edge-tier job on its own: it starts the
SuperLink and the edge ServerApp, waits for ``--min-nodes`` SuperNodes, runs the job and writes a
JSON summary (run id, run directory, per-round accepted/rejected/missing, holdout accuracy) to
stdout. A deployed gateway runs the same federation from ``aiotwin-gateway start`` (``[fl]``);
these verbs are for a federation without the router and uplink, and for experiments (docs/fl.md).

Both SuperLink verbs serve TLS (``--ssl-ca-certfile/--ssl-certfile/--ssl-keyfile``) with SuperNode
authentication, or plain HTTP with ``--insecure`` (local experiments). ``register-node`` and
``node-key`` are ``aiotwin-gateway fl register-node|node-key`` (one implementation,
:mod:`gateway.fl._admin`) for a ``--work-dir`` of ``run`` or ``serve`` instead of a data dir.
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
from aiotwin.flower.pki import ServerTls
from aiotwin.lifecycle import run_daemon
from aiotwin.models.task import Weights, load_task
from gateway.config import FlConfig, validate_fl
from gateway.fl._admin import edge_dir, node_key, register_node
from gateway.fl.aggregator import DEFAULT_SUPERLINK_PORT, EdgeAggregator, EdgeAggregatorConfig
from gateway.fl.cloud import DEFAULT_CLOUD_RUNTIME_PORT, FederationConfig, GatewayFederation

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
    _security(run)
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
    serve.add_argument("--coordinator-ca", type=Path,
                       help="CA certificate of the coordinator's SuperLink (required unless --insecure)")
    _security(serve)
    serve.add_argument("-v", "--verbose", action="store_true")
    reg = sub.add_parser("register-node", help="authorize a camera's Flower public key at this gateway's SuperLink")
    reg.add_argument("--work-dir", type=Path, required=True, help="the work dir of `run` or `serve`")
    reg.add_argument("--public-key", type=Path, required=True, help="the node's OpenSSH ECDSA public key (.pub)")
    reg.add_argument("--name", help="the node's name (default: the key file's name)")
    reg.add_argument("--offline", action="store_true", help="only store it: registered when the SuperLink starts")
    reg.add_argument("-v", "--verbose", action="store_true")
    key = sub.add_parser("node-key", help="create (once) the gateway's cloud-tier Flower key; print the public key")
    key.add_argument("--work-dir", type=Path, required=True, help="the work dir of `serve`")
    key.add_argument("-v", "--verbose", action="store_true")
    return p


def _security(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ssl-ca-certfile", type=Path, help="CA certificate that signed --ssl-certfile")
    p.add_argument("--ssl-certfile", type=Path, help="the SuperLink's TLS certificate (SANs: the address nodes dial)")
    p.add_argument("--ssl-keyfile", type=Path, help="the SuperLink's TLS private key")
    p.add_argument("--insecure", action="store_true",
                   help="plain HTTP, no SuperNode authentication (local experiments only)")


def _tls(args: argparse.Namespace) -> ServerTls | None:
    files = (args.ssl_ca_certfile, args.ssl_certfile, args.ssl_keyfile)
    if args.insecure:
        if any(files):
            raise ValueError("--insecure and --ssl-* exclude each other")
        return None
    if not all(files):
        raise ValueError("the SuperLink needs --ssl-ca-certfile, --ssl-certfile and --ssl-keyfile "
                         "(or --insecure for local experiments)")
    return ServerTls(*(f.resolve() for f in files))


def _register(args: argparse.Namespace) -> int:
    out = register_node(edge_dir(args.work_dir), args.public_key, name=args.name, offline=args.offline)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def _node_key(args: argparse.Namespace) -> int:
    sys.stdout.write(f"{node_key(args.work_dir)}\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    cfg = FlConfig(enabled=True, coordinator=args.coordinator, gateway_id=args.gateway_id, host=args.host,
                   port=args.port, cloud_runtime_port=args.cloud_runtime_port, min_nodes=args.min_nodes,
                   wait_nodes_s=args.wait_nodes_s, holdout_npz=args.holdout_npz, ssl_ca_certfile=args.ssl_ca_certfile,
                   ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile, coordinator_ca=args.coordinator_ca,
                   insecure=args.insecure)
    validate_fl(cfg)  # the checks of [fl] in gateway.toml (keys named as there)
    config = FederationConfig.from_config(cfg, args.work_dir, args.gateway_id)
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
    agg = EdgeAggregator(EdgeAggregatorConfig(args.work_dir.resolve(), host=args.host, port=args.port,
                                              tls=_tls(args), insecure=args.insecure))
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
        if args.verb == "register-node":
            return _register(args)
        if args.verb == "node-key":
            return _node_key(args)
        summary = asyncio.run(_run(args))
    except (AiotwinError, ValueError) as exc:
        _LOG.error("%s", exc, exc_info=args.verbose)
        return 1
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
