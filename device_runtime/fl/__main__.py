"""``python -m device_runtime.fl``: only the supervised SuperNode of a camera node, until SIGTERM.

For FL experiments and benchmarks without cameras; ``aiotwin-device start`` with ``[fl] enabled``
runs the same supervisor next to the pipeline (docs/fl.md). TLS with the node's Flower key by
default (``--root-certificates``; the key ``<data-dir>/fl/keys/flwr-node`` is created on first
use, ``--keygen`` only creates it and prints the public key to register at the gateway);
``--insecure`` for local experiments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aiotwin.lifecycle import run_daemon
from aiotwin.retry import Backoff
from device_runtime.config import DEFAULT_FL_RESTART_MAX_S, DEFAULT_FL_RUNTIME_PORT
from device_runtime.fl.node import KEYS_DIR, NODE_KEY, SAMPLE_SOURCE
from device_runtime.fl.supervisor import FL_DIR, SuperNodeSupervisor

_LOG = logging.getLogger("device_runtime.fl")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m device_runtime.fl", description=__doc__.split("\n")[0])
    p.add_argument("--superlink", help="host:port of the gateway's SuperLink (required unless --keygen)")
    p.add_argument("--data-dir", type=Path, required=True, help="the node's data dir (sample store, fl/)")
    p.add_argument("--node-name", required=True, help="the node's own id (reported with its updates)")
    p.add_argument("--runtime-port", type=int, default=DEFAULT_FL_RUNTIME_PORT)
    p.add_argument("--samples-npz", type=Path, help="train on x/y of this .npz instead of the sample store")
    p.add_argument("--task", help="the only task reference this node trains (default: any)")
    p.add_argument("--root-certificates", type=Path, help="CA certificate of the SuperLink (TLS)")
    p.add_argument("--auth-key", type=Path, help="the node's Flower private key (default <data-dir>/fl/keys/flwr-node)")
    p.add_argument("--insecure", action="store_true", help="plain HTTP, no node key (local experiments only)")
    p.add_argument("--keygen", action="store_true", help="create the node key if missing, print the public key path")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    key = args.auth_key or args.data_dir / FL_DIR / KEYS_DIR / NODE_KEY
    if args.keygen:
        from aiotwin.flower.pki import write_node_key

        sys.stdout.write(f"{write_node_key(key.parent, name=key.name).public}\n")
        return 0
    if not args.superlink or (not args.insecure and not args.root_certificates):
        _LOG.error("--superlink and --root-certificates (or --insecure) are required")
        return 2
    if not args.insecure:
        from aiotwin.flower.pki import write_node_key

        write_node_key(key.parent, name=key.name)
    config: dict[str, str | int | float | bool] = {"node-name": args.node_name, "data-dir": str(args.data_dir)}
    if args.samples_npz:
        config["samples-npz"] = str(args.samples_npz.resolve())
    else:
        config["sample-source"] = SAMPLE_SOURCE
    if args.task:
        config["task"] = args.task
    node = SuperNodeSupervisor(args.superlink, args.data_dir / FL_DIR, runtime_port=args.runtime_port,
                               node_config=config, backoff=Backoff(cap_s=DEFAULT_FL_RESTART_MAX_S),
                               insecure=args.insecure, root_certificates=args.root_certificates,
                               auth_key=None if args.insecure else key)
    return int(asyncio.run(run_daemon(node, name="supernode", logger=_LOG)))


if __name__ == "__main__":
    sys.exit(main())
