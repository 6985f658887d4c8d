"""``aiotwin netem run``: start the links of a TOML file until SIGTERM/SIGINT.

stdout carries one JSON line once every link listens: ``{"control": url, "links": {name: addr}}``
(the bound addresses, as port 0 picks free ports); logs go to stderr. The emulator loads inside the
verb, so ``aiotwin --help`` stays light.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from aiotwin.cli._app import app, guarded

netem_app = typer.Typer(help="Userspace link emulator: TCP/UDP proxies with delay, loss, bandwidth.",
                        no_args_is_help=True)
app.add_typer(netem_app, name="netem")

_LOG = logging.getLogger("aiotwin.netem")


def _announce(info: dict[str, Any]) -> None:
    typer.echo(json.dumps(info, sort_keys=True))


async def _serve(config: Path, control: str | None) -> int:
    from aiotwin.lifecycle import run_daemon
    from aiotwin.netem import NetemDaemon, load_netem_config

    daemon = NetemDaemon(load_netem_config(config), control=control, announce=_announce)
    return int(await run_daemon(daemon, name="netem", logger=_LOG))


@netem_app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", help="Links file (TOML); see docs/netem.md.")],
    control: Annotated[str | None, typer.Option(
        "--control", help="host:port of the HTTP control API (port 0 picks one); overrides the file.")] = None,
) -> None:
    """Run the links of a TOML file; SIGTERM or Ctrl-C shuts them down cleanly."""

    def body() -> int:
        from aiotwin.netem import parse_address

        if control is not None:
            try:
                parse_address(control)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--control") from exc
        return asyncio.run(_serve(config, control))

    guarded(body)


__all__ = ["netem_app", "run"]
