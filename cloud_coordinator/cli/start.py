"""``aiotwin-coordinator start``: the coordinator's FL daemon until SIGTERM (SuperLink + global ServerApp).

Gateways point their cloud-tier SuperNode at ``--host:--port``; ``aiotwin-coordinator fl start``
queues runs for it. Runs a previous coordinator left unfinished resume after their last completed
global round unless ``--no-resume``. The daemon also publishes the runs' global models as bundles
into its model store (``<work-dir>/models``; ``aiotwin-coordinator models list``), exporting each in a
worker process.

The SuperLink serves TLS (``--ssl-ca-certfile/--ssl-certfile/--ssl-keyfile``) and accepts only the
gateways whose Flower keys were registered (``aiotwin-coordinator fl register-gateway``);
``--insecure`` (plain HTTP, no gateway authentication) is for local experiments only.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from cloud_coordinator.cli._app import DEFAULT_WORK_DIR, app, guarded
from cloud_coordinator.fl.coordinator import DEFAULT_COORDINATOR_PORT

_Opt = typer.Option
_LOG = logging.getLogger("cloud_coordinator")


@app.command()
def start(  # noqa: PLR0917 - typer maps parameters to options
    work_dir: Annotated[Path, _Opt("--work-dir", "-w", help="SuperLink state, logs, job queue and run dirs.")]
    = DEFAULT_WORK_DIR,
    host: Annotated[str, _Opt("--host", help="SuperLink listen address (gateways connect here).")] = "127.0.0.1",
    port: Annotated[int, _Opt("--port", min=1, max=65535, help="SuperLink port.")] = DEFAULT_COORDINATOR_PORT,
    resume: Annotated[bool, _Opt("--resume/--no-resume", help="Resume runs a previous coordinator left "
                                 "unfinished.")] = True,
    ssl_ca_certfile: Annotated[Path | None, _Opt("--ssl-ca-certfile", help="CA that signed --ssl-certfile.")] = None,
    ssl_certfile: Annotated[Path | None, _Opt("--ssl-certfile", help="The SuperLink's TLS certificate (SANs: "
                                              "the address gateways dial).")] = None,
    ssl_keyfile: Annotated[Path | None, _Opt("--ssl-keyfile", help="The SuperLink's TLS private key.")] = None,
    insecure: Annotated[bool, _Opt("--insecure", help="Plain HTTP, no gateway authentication (local "
                                   "experiments only).")] = False,
) -> None:
    """Run the coordinator's Flower SuperLink and global ServerApp until SIGTERM (logs "ready")."""

    def body() -> int:
        from aiotwin.availability import require
        from aiotwin.flower.host import HostConfig
        from aiotwin.flower.pki import ServerTls
        from aiotwin.lifecycle import run_daemon
        from cloud_coordinator.fl.coordinator import FlCoordinator

        files = (ssl_ca_certfile, ssl_certfile, ssl_keyfile)
        if insecure == any(files) or not (insecure or all(files)):
            raise typer.BadParameter("give --ssl-ca-certfile, --ssl-certfile and --ssl-keyfile, or --insecure "
                                     "(local experiments only)")
        tls = None if insecure else ServerTls(*(f.resolve() for f in files if f is not None))
        require("flower")
        daemon = FlCoordinator(HostConfig(work_dir.resolve(), host=host, port=port, tls=tls, insecure=insecure),
                               resume=resume)
        return int(asyncio.run(run_daemon(daemon, name="coordinator", logger=_LOG)))

    guarded(body)


__all__ = ["start"]
