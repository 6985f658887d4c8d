"""The operator view of a running node: a rich Live table on a TTY, periodic log lines otherwise.

Both read :class:`~device_runtime._worker.CameraSnapshot` s (cheap copies under a lock) from the
event loop; nothing here blocks on I/O beyond writing a few lines to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from device_runtime._worker import CameraSnapshot

_LOG = logging.getLogger("device_runtime.live")

LIVE_REFRESH_S = 1.0  # redraw period of the TTY table
LOG_PERIOD_S = 10.0  # period of the plain status lines when stderr is not a TTY

Snapshots = Callable[[], Sequence[CameraSnapshot]]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _counts(snap: CameraSnapshot) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(snap.counts.items())) or "-"


def render_table(snaps: Sequence[CameraSnapshot], variant: str) -> Table:
    table = Table(title=f"aiotwin camera node — variant {variant}", expand=False)
    for col in ("camera", "state", "frames", "dropped", "fps", "p50 ms", "p95 ms", "counts (class/dir)"):
        table.add_column(col, justify="left" if col in ("camera", "state", "counts (class/dir)") else "right")
    for s in snaps:
        dropped = str(s.capture.frames_dropped) if s.capture else "-"
        table.add_row(s.camera_id, s.state, str(s.frames), dropped, f"{s.fps:.1f}", _ms(s.p50_ms),
                      _ms(s.p95_ms), _counts(s))
    return table


def status_line(s: CameraSnapshot, variant: str) -> str:
    dropped = s.capture.frames_dropped if s.capture else 0
    return (f"camera {s.camera_id}: {s.state}, {s.frames} frames, {dropped} dropped, {s.fps:.1f} fps, "
            f"p50 {_ms(s.p50_ms)} ms, p95 {_ms(s.p95_ms)} ms, variant {variant}, counts {_counts(s)}")


async def async_show(snapshots: Snapshots, variant: Callable[[], str], stream: IO[str] | None = None) -> None:
    """Run until cancelled: Live table when ``stream`` (default stderr) is a TTY, log lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        await _async_live(snapshots, variant, Console(file=out))
    else:
        await _async_log(snapshots, variant)


async def _async_live(snapshots: Snapshots, variant: Callable[[], str], console: Console) -> None:
    with Live(render_table(snapshots(), variant()), console=console, auto_refresh=False,
              transient=False) as live:
        while True:
            await asyncio.sleep(LIVE_REFRESH_S)
            live.update(render_table(snapshots(), variant()), refresh=True)


async def _async_log(snapshots: Snapshots, variant: Callable[[], str]) -> None:
    while True:
        await asyncio.sleep(LOG_PERIOD_S)
        for snap in snapshots():
            _LOG.info("%s", status_line(snap, variant()))


__all__ = ["LIVE_REFRESH_S", "LOG_PERIOD_S", "async_show", "render_table", "status_line"]
