"""``aiotwin-device run``: process one source to its end and print the counts.

``--source`` is anything the camera layer opens (file, device, RTSP URL, GStreamer pipeline,
``synthetic:NAME``). ``--config device.toml --camera-id ID`` counts it as that camera of the node
config does (its line, lanes, mask zones and thresholds); ``--line`` overrides the line. Without
either the counting line is horizontal at mid-height; for a video rendered by ``aiotwin scenes
render`` pass the line from its truth.json. The variant is chosen by the
hardware selection (``aiotwin-device detect``) unless ``--variant`` or ``AIOTWIN_VARIANT`` forces one.

``--format json`` prints one object whose ``counts`` has exactly the shape of truth.json's
(``{CLASS: {"in": n, "out": n}}`` for every class of the model).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aiotwin.exitcodes import ExitCode
from aiotwin.geometry import Line, parse_line
from device_runtime.cli._app import app, guarded

if TYPE_CHECKING:
    from aiotwin.bundle import Bundle
    from aiotwin.engines.base import Engine
    from device_runtime.pipeline import RunResult

FALLBACK_VARIANT = "onnx-fp32"  # when hardware selection is not available
ENGINE_THREADS = 1  # the reader thread decodes on the other core
DEFAULT_CAMERA_ID = "cam-0"


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


def _line_or_exit(text: str | None) -> Line | None:
    if text is None:
        return None
    try:
        return parse_line(text)
    except ValueError as exc:
        typer.echo(f"error: --line: {exc}", err=True)
        raise typer.Exit(int(ExitCode.USAGE)) from None


def _choose_variant(bundle_dir: Path | None, forced: str | None) -> str:
    if forced:
        return forced
    try:
        from device_runtime.cli.detect import run_detection
    except ImportError:  # pragma: no cover - only while hw selection is not installed
        return FALLBACK_VARIANT
    return run_detection(Path("/"), bundle_dir, os.environ).choice.require()


def _open_engine(bundle: Bundle, variant: str) -> Engine:
    from aiotwin.engines import open_engine

    return open_engine(bundle, variant, threads=ENGINE_THREADS)


@dataclass(frozen=True)
class RunRequest:
    """The command line of one ``run``."""

    source: str
    frames: int | None = None
    line: Line | None = None
    bundle: Path | None = None
    variant: str | None = None
    camera_id: str = DEFAULT_CAMERA_ID
    config: Path | None = None


def _process(req: RunRequest) -> tuple[RunResult, str, Line | None]:
    from aiotwin.bundle import default_bundle_dir, load_bundle
    from device_runtime.camera import open_source
    from device_runtime.config import PrivacyConfig
    from device_runtime.pipeline import CameraPipeline, PrivacyFilter, run_source
    from device_runtime.pipeline.camera_setup import camera_for_run

    cam = camera_for_run(req.source, req.camera_id, config=req.config, line=req.line)  # a bad config fails first
    source = open_source(req.source)  # a bad source fails first, before any model is loaded
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        bundle = load_bundle(req.bundle if req.bundle is not None else default_bundle_dir("edge"))
        chosen = _choose_variant(req.bundle, req.variant)
        engine = _open_engine(bundle, chosen)
        stack.callback(engine.close)
        pipeline = CameraPipeline(cam, engine, bundle.manifest, privacy=PrivacyFilter(PrivacyConfig()))
        result = run_source(source, pipeline, req.frames)
    return result, chosen, pipeline.line


def summary(result: RunResult, variant: str, line: Line | None) -> dict[str, Any]:
    """The ``--format json`` object."""
    return {
        "frames": result.frames, "counts": result.counts, "events": result.events,
        "fps": round(result.fps, 2), "variant": variant,
        "latency_ms": result.latency_ms, "stages_ms": result.stages_ms,
        "line": list(line) if line is not None else None,
    }


def _print_text(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{data['frames']} frames, {data['fps']} fps, variant {data['variant']}")
    for col in ("class", "in", "out"):
        table.add_column(col, justify="right" if col != "class" else "left")
    for cls, c in data["counts"].items():
        table.add_row(cls, str(c["in"]), str(c["out"]))
    console = Console()
    console.print(table)
    lat, stages = data["latency_ms"], data["stages_ms"]
    console.print(f"latency ms: p50 {lat['p50']}, p95 {lat['p95']}; events {data['events']}")
    console.print("stages ms: " + ", ".join(f"{k} {v}" for k, v in stages.items()))


@app.command()
def run(
    *,
    source: Annotated[str, typer.Option("--source", help="File, device, RTSP URL, GStreamer pipeline, "
                                        "synthetic:NAME.")],
    frames: Annotated[int | None, typer.Option("--frames", min=1, help="Stop after K frames.")] = None,
    line: Annotated[str | None, typer.Option("--line", help="Counting line x1,y1,x2,y2 in pixels "
                                             "(default: horizontal at mid-height).")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Model bundle directory.")] = None,
    variant: Annotated[str | None, typer.Option("--variant", help="Force a model variant.")] = None,
    camera_id: Annotated[str, typer.Option("--camera-id", help="Camera id in events; with --config, the "
                                           "camera whose line, lanes and thresholds are used.")] = DEFAULT_CAMERA_ID,
    config: Annotated[Path | None, typer.Option("--config", help="device.toml: take the camera's line, "
                                                "lanes, masks and thresholds from it.")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
) -> None:
    """Process a source to its end and print counts, fps and per-stage latency."""
    parsed = _line_or_exit(line)

    def body() -> int:
        request = RunRequest(source, frames, parsed, bundle, variant, camera_id, config)
        result, chosen, used_line = _process(request)
        data = summary(result, chosen, used_line)
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(data))
        else:
            _print_text(data)
        return 0

    guarded(body)


__all__ = ["OutputFormat", "RunRequest", "run", "summary"]
