"""``aiotwin-gateway fl register-node|node-key|status``: the operator's side of the gateway's FL role.

Each works on ``<data-dir>/fl`` (the work dir ``aiotwin-gateway start`` gives its federation) and
none needs the daemon to run: ``register-node`` stores a camera's Flower public key for the edge
SuperLink (and registers it at once when that SuperLink runs), ``node-key`` creates (once) and
prints the gateway's own cloud-tier key for ``aiotwin-coordinator fl register-gateway``, ``status``
reads what the daemon, the edge ServerApp and the bridge write. The steps themselves live in
:mod:`gateway.fl` (shared with ``python -m gateway.fl``), imported inside each verb so ``--help``
stays light. Data goes to stdout, logs to stderr.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gateway.cli._app import DEFAULT_DATA_DIR, fl_app, guarded
from gateway.config import FL_DIR

_Opt = typer.Option
_DATA = _Opt("--data-dir", help=f"The gateway's data dir (its FL work dir is {FL_DIR}/ inside).")
RUN_COLUMNS = ("run-id", "state", "base-version", "rounds-done", "aggregated", "accuracy", "error")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@fl_app.command("register-node")
def fl_register_node(
    public_key: Annotated[Path, _Opt("--public-key", help="The camera's Flower public key (OpenSSH ECDSA, "
                                     "<device data-dir>/fl/keys/flwr-node.pub).")],
    name: Annotated[str | None, _Opt("--name", help="The camera's id (default: the key file's name).")] = None,
    data_dir: Annotated[Path, _DATA] = DEFAULT_DATA_DIR,
    offline: Annotated[bool, _Opt("--offline", help="Only store it: registered when the edge SuperLink starts.")]
    = False,
) -> None:
    """Authorize a camera's Flower key at this gateway's edge SuperLink (now if it runs, and at every start)."""

    def body() -> int:
        from gateway.fl import register_node
        from gateway.fl.cloud import EDGE_DIR

        _emit(register_node(data_dir / FL_DIR / EDGE_DIR, public_key, name=name, offline=offline))
        return 0

    guarded(body)


@fl_app.command("node-key")
def fl_node_key(data_dir: Annotated[Path, _DATA] = DEFAULT_DATA_DIR) -> None:
    """Create (once) the gateway's Flower key for the coordinator; print the public key's path."""

    def body() -> int:
        from gateway.fl import node_key

        typer.echo(str(node_key(data_dir / FL_DIR)))
        return 0

    guarded(body)


@fl_app.command("status")
def fl_status(
    data_dir: Annotated[Path, _DATA] = DEFAULT_DATA_DIR,
    runs: Annotated[int, _Opt("--runs", min=0, help="Newest runs listed per queue.")] = 10,
    output: Annotated[OutputFormat, _Opt("--format", help="Output format.")] = OutputFormat.text,
) -> None:
    """The edge aggregator's state: SuperLink, connected cameras, recent edge runs, global rounds served."""

    def body() -> int:
        from gateway.fl import federation_status

        report = federation_status(data_dir / FL_DIR, recent=runs)
        _emit(report) if output is OutputFormat.json else _print_status(report)
        return 0

    guarded(body)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def _beat(beat: dict[str, Any] | None) -> str:
    if beat is None:
        return "never started"
    return f"{beat['state']} (beat {beat['age-s']:g} s ago, run {_fmt(beat.get('run-id'))})"


def _runs_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column(RUN_COLUMNS[0], no_wrap=True, min_width=len("20260101T120000Z-1a2b3c"))
    for column in RUN_COLUMNS[1:]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_fmt(row.get(c)) for c in RUN_COLUMNS))
    return table


def _print_status(report: dict[str, Any]) -> None:
    console = Console()
    if not report["present"]:
        console.print(f"no FL state under {report['work-dir']}: has `aiotwin-gateway start` run with FL on "
                      "and this --data-dir?", highlight=False)
        return
    fed, edge, bridge = report["federation"] or {}, report["edge"], report["bridge"]
    since = f", {time.time() - float(fed['time']):.0f} s ago" if fed.get("time") else ""
    console.print(f"gateway {_fmt(fed.get('gateway-id'))}: {_fmt(fed.get('state'))}{since} (pid "
                  f"{_fmt(fed.get('pid'))}); edge SuperLink {_fmt(fed.get('edge-superlink'))}, coordinator "
                  f"{_fmt(fed.get('coordinator'))}", highlight=False)
    console.print(f"edge ServerApp: {_beat(edge['heartbeat'])}; bridge: {_beat(bridge['heartbeat'])}",
                  highlight=False)
    nodes = ", ".join(n["name"] or n["node-id"] for n in edge["nodes"]) or "none"
    console.print(f"cameras connected: {nodes}; authorized keys: {', '.join(edge['authorized-nodes']) or 'none'}; "
                  f"cloud-tier key: {report['cloud-key'] or 'none'}", highlight=False)
    for what, queue in (("edge runs", edge), ("global rounds (bridge)", bridge)):
        counts = ", ".join(f"{k} {v}" for k, v in queue["runs-by-state"].items()) or "none"
        console.print(_runs_table(f"{what}: {queue['runs-total']} ({counts})", queue["runs"]))


__all__ = ["RUN_COLUMNS", "OutputFormat", "fl_node_key", "fl_register_node", "fl_status"]
