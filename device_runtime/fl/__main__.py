"""``python -m device_runtime.fl``: only the supervised SuperNode of a camera node, until SIGTERM.

For FL experiments and benchmarks without cameras; ``aiotwin-device start`` with ``[fl] enabled``
runs the same supervisor next to the pipeline (docs/fl.md).
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
from device_runtime.fl.node import SAMPLE_SOURCE
from device_runtime.fl.supervisor import FL_DIR, SuperNodeSupervisor

_LOG = logging.getLogger("device_runtime.fl")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m device_runtime.fl", description=__doc__.split("\n")[0])
    p.add_argument("--superlink", required=True, help="host:port of the gateway's SuperLink")
    p.add_argument("--data-dir", type=Path, required=True, help="the node's data dir (sample store, fl/)")
    p.add_argument("--node-name", required=True, help="the node's own id (reported with its updates)")
    p.add_argument("--runtime-port", type=int, default=DEFAULT_FL_RUNTIME_PORT)
    p.add_argument("--samples-npz", type=Path, help="train on x/y of this .npz instead of the sample store")
    p.add_argument("--task", help="the only task reference this node trains (default: any)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config: dict[str, str | int | float | bool] = {"node-name": args.node_name, "data-dir": str(args.data_dir)}
    if args.samples_npz:
        config["samples-npz"] = str(args.samples_npz.resolve())
    else:
        config["sample-source"] = SAMPLE_SOURCE
    if args.task:
        config["task"] = args.task
    node = SuperNodeSupervisor(args.superlink, args.data_dir / FL_DIR, runtime_port=args.runtime_port,
                               node_config=config, backoff=Backoff(cap_s=DEFAULT_FL_RESTART_MAX_S))
    return int(asyncio.run(run_daemon(node, name="supernode", logger=_LOG)))


if __name__ == "__main__":
    sys.exit(main())
