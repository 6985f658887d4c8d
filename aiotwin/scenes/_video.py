"""Render a scene to an mp4 plus ``truth.json`` (the counting acceptance contract)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2

from aiotwin._exceptions import SceneError
from aiotwin.scenes._renderer import SceneRenderer
from aiotwin.scenes._spec import CameraSpec

FOURCC = "mp4v"


def truth_document(spec: CameraSpec, seed: int, frames: int, counts: dict[str, dict[str, int]],
                   crossings: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``truth.json`` document (see docs/scenes.md)."""
    return {
        "frames": frames,
        "camera": spec.name,
        "seed": seed,
        "fps": spec.fps,
        "resolution": [spec.width, spec.height],
        "line": spec.counting_line.to_dict(),
        "lighting": spec.lighting,
        "weather": spec.weather,
        "counts": counts,
        "crossings": crossings,
    }


@contextmanager
def _writer(out: Path, spec: CameraSpec) -> Iterator[cv2.VideoWriter]:
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*FOURCC), spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise SceneError(f"cannot open {out} for writing ({FOURCC} video)")
    try:
        yield writer
    finally:
        writer.release()


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Any]:
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def render_video(  # noqa: PLR0917 - the public signature is positional by contract
    spec: CameraSpec, seed: int, frames: int, out: Path, truth: Path | None, progress: bool = False
) -> dict[str, Any]:
    """Write ``frames`` frames of ``spec`` to ``out`` (mp4v) and the truth to ``truth``; return the truth."""
    if frames < 1:
        raise SceneError(f"frames must be >= 1, got {frames}")
    renderer = SceneRenderer(spec, seed)
    crossings: list[dict[str, Any]] = []
    with _writer(Path(out), spec) as writer, _progress(progress, frames, f"{spec.name} seed {seed}") as tick:
        for _ in range(frames):
            frame, ft = renderer.next_frame()
            writer.write(frame)
            crossings += [{"frame": ft.index, "track_id": t, "cls": c, "direction": d, "lane": lane}
                          for t, c, d, lane in ft.crossings]
            tick()
    doc = truth_document(spec, seed, frames, renderer.counts, crossings)
    if truth is not None:
        Path(truth).parent.mkdir(parents=True, exist_ok=True)
        Path(truth).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return doc


__all__ = ["render_video", "truth_document"]
