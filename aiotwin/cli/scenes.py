"""``aiotwin scenes render`` and ``aiotwin scenes ls``: thin verbs over :mod:`aiotwin.scenes`.

Nothing heavy is imported at module level: the scenes package (and OpenCV) load inside the verbs.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from aiotwin.cli._app import guarded, scenes_app


class Lighting(StrEnum):
    day = "day"
    dusk = "dusk"
    night = "night"


class Weather(StrEnum):
    clear = "clear"
    rain = "rain"
    fog = "fog"


class Format(StrEnum):
    table = "table"
    json = "json"


@scenes_app.command("render")
def render(  # noqa: PLR0917 - typer maps parameters to options
    camera: Annotated[str, typer.Option("--camera", help="Shipped camera name or a camera spec .toml file.")],
    out: Annotated[Path, typer.Option("--out", help="Video file to write (mp4, 'mp4v' codec).")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Scene seed (traffic and noise).")] = 0,
    frames: Annotated[int, typer.Option("--frames", min=1, help="Number of frames to render.")] = 250,
    truth: Annotated[Path | None, typer.Option("--truth", help="Where to write truth.json.")] = None,
    lighting: Annotated[Lighting | None, typer.Option("--lighting", help="Override the camera's lighting.")] = None,
    weather: Annotated[Weather | None, typer.Option("--weather", help="Override the camera's weather.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress",
                                           help="Progress bar on stderr (only when it is a terminal).")] = True,
) -> None:
    """Render a synthetic camera to a video plus ground truth; prints a one-line JSON summary."""

    def body() -> int:
        from aiotwin.scenes import load_camera, render_video

        spec = load_camera(camera).with_conditions(
            lighting.value if lighting else None, weather.value if weather else None
        )
        doc = render_video(spec, seed, frames, out, truth, progress=progress and sys.stderr.isatty())
        totals = {cls: c["in"] + c["out"] for cls, c in doc["counts"].items()}
        summary = {"out": str(out), "truth": str(truth) if truth else None, "camera": spec.name, "seed": seed,
                   "frames": frames, "crossings": len(doc["crossings"]), "counts": totals}
        typer.echo(json.dumps(summary))
        return 0

    guarded(body)


def _describe(name: str) -> dict[str, Any]:
    from aiotwin.scenes import load_camera

    spec = load_camera(name)
    return {
        "name": name,
        "description": spec.description,
        "resolution": [spec.width, spec.height],
        "fps": spec.fps,
        "lighting": spec.lighting,
        "weather": spec.weather,
        "lanes": len(spec.lanes),
        "mix": {cls: round(share, 3) for cls, share in sorted(spec.mix.shares().items(), key=lambda kv: -kv[1])
                if share > 0},
    }


@scenes_app.command("ls")
def ls(
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """List the shipped cameras with their class mix and default conditions."""

    def body() -> int:
        from aiotwin.scenes import camera_names

        rows = [_describe(name) for name in camera_names()]
        if fmt is Format.json:
            typer.echo(json.dumps(rows, indent=1))
            return 0
        _table(rows)
        return 0

    guarded(body)


def _table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("camera", "size", "fps", "lighting", "weather", "lanes", "mix")
    for r in rows:
        mix = ", ".join(f"{cls} {share:.0%}" for cls, share in r["mix"].items())
        table.add_row(r["name"], "x".join(map(str, r["resolution"])), f"{r['fps']:g}", r["lighting"],
                      r["weather"], str(r["lanes"]), mix)
    Console().print(table)


__all__ = ["ls", "render"]
