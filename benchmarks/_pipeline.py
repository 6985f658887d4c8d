"""Pipeline helpers of the benchmark scripts: cached scene videos and an instrumented pipeline run.

Videos come from :func:`aiotwin.scenes.render_video` and are cached under ``benchmarks/results/cache``
keyed by camera, seed, conditions, frame count and a fingerprint of the renderer's sources (a change
to ``aiotwin/scenes`` renders them again). A run goes through the real ``device_runtime`` path —
``open_source`` (file) → :class:`CameraPipeline` → :func:`run_source` — composed like
``aiotwin-device run``; thin wrappers record per-frame decode time, stage timings, crops classified
and events, which the run's own totals do not keep.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import CACHE, ROOT

SCENES_DIR = ROOT / "aiotwin" / "scenes"


def scenes_fingerprint() -> str:
    """A short hash of the renderer's sources and camera files (part of every cache key)."""
    h = hashlib.sha256()
    for path in sorted([*SCENES_DIR.glob("*.py"), *SCENES_DIR.glob("cameras/*.toml")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:10]


@dataclass(frozen=True)
class Video:
    """One rendered video: the mp4, its truth document and whether it came from the cache."""

    mp4: Path
    truth: dict[str, Any]
    cached: bool

    @property
    def line(self) -> tuple[float, float, float, float]:
        ln = self.truth["line"]
        return (float(ln["x1"]), float(ln["y1"]), float(ln["x2"]), float(ln["y2"]))

    @property
    def line_arg(self) -> str:
        return ",".join(f"{v:g}" for v in self.line)


def rendered(camera: str, seed: int, frames: int, lighting: str | None = None,  # noqa: PLR0917
             weather: str | None = None, cache: Path = CACHE) -> Video:
    """The video of ``camera`` at ``seed`` (conditions ``None``: the camera's own), rendered once."""
    from aiotwin.scenes import load_camera, render_video

    name = f"{camera}-s{seed}-{lighting or 'own'}-{weather or 'own'}-{frames}f"
    folder = cache / scenes_fingerprint()
    mp4, truth = folder / f"{name}.mp4", folder / f"{name}.json"
    if mp4.exists() and truth.exists():
        return Video(mp4, json.loads(truth.read_text(encoding="utf-8")), cached=True)
    tmp_mp4, tmp_truth = folder / f".{name}.{os.getpid()}.mp4", folder / f".{name}.{os.getpid()}.json"
    spec = load_camera(camera).with_conditions(lighting, weather)
    render_video(spec, seed, frames, tmp_mp4, tmp_truth)
    tmp_mp4.replace(mp4)
    tmp_truth.replace(truth)
    return Video(mp4, json.loads(truth.read_text(encoding="utf-8")), cached=False)


def frames_for(camera: str, seconds: float) -> int:
    """Frames of ``seconds`` of video at the camera's own frame rate."""
    from aiotwin.scenes import load_camera

    return max(2, round(seconds * load_camera(camera).fps))


@dataclass
class FrameRecord:
    """One processed frame: when processing ended, stage timings, crops classified, tracks, events."""

    done_s: float
    timings_ms: dict[str, float]
    classified: int
    tracks: int
    events: list[Any] = field(default_factory=list)


class TimedSource:
    """Wraps a frame source; records the wall time of every ``read()`` (decode) in order."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.decode_ms: list[float] = []

    def read(self) -> Any:
        t0 = time.perf_counter()
        frame = self.source.read()
        if frame is not None:
            self.decode_ms.append((time.perf_counter() - t0) * 1e3)
        return frame

    def close(self) -> None:
        self.source.close()


def recording_pipeline(cam: Any, engine: Any, manifest: Any, privacy: Any) -> Any:
    """A :class:`CameraPipeline` whose ``process`` also appends a :class:`FrameRecord` to ``records``."""
    from device_runtime.pipeline import CameraPipeline

    class RecordingPipeline(CameraPipeline):
        records: list[FrameRecord]

        def process(self, frame_bgr: Any, ts: float | None = None) -> Any:
            result = super().process(frame_bgr, ts)
            self.records.append(FrameRecord(time.perf_counter(), dict(result.timings_ms), result.classified,
                                            len(result.tracks), list(result.events)))
            return result

    pipe = RecordingPipeline(cam, engine, manifest, privacy=privacy)
    pipe.records = []
    return pipe


def selected_variant() -> str:
    """The variant hardware selection picks here (what ``aiotwin-device run`` uses without --variant)."""
    from device_runtime.cli.detect import run_detection

    return str(run_detection(Path("/"), None, os.environ).choice.require())


def engine_threads() -> int:
    from device_runtime.cli.run import ENGINE_THREADS

    return int(ENGINE_THREADS)


@dataclass
class PipelineRun:
    """What :func:`run_pipeline` returns."""

    result: Any  # device_runtime.pipeline.RunResult
    records: list[FrameRecord]
    decode_ms: list[float]
    final_events: list[Any]
    variant: str
    provider: str


def run_pipeline(video: Video, variant: str, threads: int, frames: int | None = None,
                 arch: str = "edge") -> PipelineRun:
    """Process ``video`` to its end through the real pipeline (privacy filter on, like ``run``).

    ``arch`` picks the shipped bundle: ``edge`` (the camera's model) or ``cloud`` (the gateway's:
    what the pipeline would count if every crop were answered by it).
    """
    from aiotwin.bundle import default_bundle_dir, load_bundle
    from aiotwin.engines import open_engine
    from device_runtime.camera import open_source
    from device_runtime.config import CameraConfig, PrivacyConfig
    from device_runtime.pipeline import PrivacyFilter, run_source

    bundle = load_bundle(default_bundle_dir(arch))
    engine = open_engine(bundle, variant, threads=threads)
    source = TimedSource(open_source(str(video.mp4)))
    try:
        cam = CameraConfig(id="bench-0", source=str(video.mp4), line=video.line)
        pipe = recording_pipeline(cam, engine, bundle.manifest, PrivacyFilter(PrivacyConfig()))
        final: list[Any] = []
        result = run_source(source, pipe, frames, on_event=final.append)
    finally:
        source.close()
        engine.close()
    in_frames = {id(e) for r in pipe.records for e in r.events}
    tail = [e for e in final if id(e) not in in_frames]
    return PipelineRun(result, pipe.records, source.decode_ms, tail, variant, engine.provider)
