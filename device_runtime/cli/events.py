"""``aiotwin-device events``: list the events waiting in the outbox (oldest first).

``--format json`` prints one JSON list of event objects exactly as :mod:`aiotwin.wire` encodes them;
``text`` prints a table. stdout carries data only. The outbox is opened read-only, so this works
while the daemon runs.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from device_runtime.cli._app import app, guarded, node_data_dir

if TYPE_CHECKING:
    from aiotwin.wire import Event

DEFAULT_LIMIT = 100


class EventsFormat(StrEnum):
    text = "text"
    json = "json"


def _read(data_dir: Path, limit: int) -> list[Event]:
    from device_runtime.outbox import OUTBOX_FILE, Outbox

    with Outbox.open(data_dir / OUTBOX_FILE, readonly=True) as outbox:
        return outbox.list(limit)


def _print_table(events: list[Event], data_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(events)} event(s) in {data_dir}")
    for col in ("ts", "kind", "camera", "what", "id"):
        table.add_column(col)
    for e in events:
        if e.kind == "count":
            what = f"{e.cls} {e.direction} (track {e.track_id}, {e.confidence:.2f})"
        elif e.kind == "drift":
            what = f"{e.distribution} moved ({e.metric} {e.divergence:.3f}, model v{e.model_version})"
        else:
            what = f"{e.condition} {'on' if e.active else 'off'} {e.detail}".strip()
        table.add_row(e.ts, e.kind, e.camera_id, what, e.id[:12])
    Console().print(table)


def _as_json(events: list[Event]) -> list[Any]:
    from aiotwin.wire import encode_event

    return [json.loads(encode_event(e)) for e in events]


@app.command()
def events(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="The node's data dir (default: the "
                                                  "--demo one).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Take the data dir from this "
                                                "device.toml.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N events, oldest first.")] = DEFAULT_LIMIT,
    fmt: Annotated[EventsFormat, typer.Option("--format", help="Output format.")] = EventsFormat.text,
) -> None:
    """List the events waiting in the outbox."""

    def body() -> int:
        where = node_data_dir(data_dir, config)
        found = _read(where, limit)
        if fmt is EventsFormat.json:
            typer.echo(json.dumps(_as_json(found)))
        else:
            _print_table(found, where)
        return 0

    guarded(body)
