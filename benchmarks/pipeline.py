"""Pipeline: sustained fps and per-frame latency of one 1280×720 file source through the real pipeline.

Renders a synthetic camera video once (cached), then runs it through ``open_source`` (file) →
``CameraPipeline`` → ``run_source`` composed exactly like ``aiotwin-device run`` (engine threads,
privacy filter), with the variant hardware selection picks here unless ``--variants`` says otherwise.
The first ``--skip-s`` seconds (empty road, motion background still learning) are left out of the
steady-state numbers; the whole-video numbers are reported too. A final ``aiotwin-device run --format
json`` on the same file cross-checks the numbers the CLI prints.

Per frame: latency = decode + every pipeline stage (the ``run`` definition). Per crop: the
crop-preprocess and inference stage times of frames that classified crops, divided by their crops.

    .venv/bin/python benchmarks/pipeline.py [--camera junction] [--seconds 40] [--variants onnx-fp32,…] [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
from _common import ROOT, Run, Target, base_parser, console, print_table, ratio, rel, stats_ms
from _pipeline import PipelineRun, engine_threads, frames_for, rendered, run_pipeline, selected_variant

FPS_TARGET = 25.0
P95_TARGET_MS = 40.0
CROP_RATIO_TARGET = 1.5
STAGES = ("decode", "motion", "tracking", "crop_preprocess", "inference", "counting", "health")


def parse_args(argv: list[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--camera", default="junction", help="synthetic camera (every class, ≤ 8 in view)")
    parser.add_argument("--seed", type=int, default=9001, help="scene seed (a holdout seed by default)")
    parser.add_argument("--seconds", type=float, default=48.0, help="video length (default 48 s)")
    parser.add_argument("--skip-s", type=float, default=8.0, help="warm-up seconds left out of steady stats")
    parser.add_argument("--variants", default="", help="comma list (default: the hardware selection)")
    parser.add_argument("--no-cli", action="store_true", help="skip the aiotwin-device run cross-check")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.skip_s = 3.0, 1.0
    return args


def steady(run: PipelineRun, skip: int) -> dict[str, Any]:
    """fps, latency and stage statistics over frames ``skip`` … end."""
    recs, dec = run.records[skip:], run.decode_ms[skip:len(run.records)]
    lat = [d + sum(r.timings_ms.values()) for d, r in zip(dec, recs, strict=True)]
    span = recs[-1].done_s - recs[0].done_s if len(recs) > 1 else 0.0
    stages = {"decode": stats_ms(dec)} | {s: stats_ms([r.timings_ms.get(s, 0.0) for r in recs])
                                          for s in STAGES if s != "decode"}
    return {"frames": len(recs), "fps": round((len(recs) - 1) / span, 2) if span > 0 else 0.0,
            "latency_ms": stats_ms(lat), "stages_ms": stages, "per_crop": per_crop(recs),
            "tracks_in_view": {"mean": round(float(np.mean([r.tracks for r in recs])), 2) if recs else 0.0,
                               "max": max((r.tracks for r in recs), default=0)}}


def per_crop(recs: list[Any]) -> dict[str, float]:
    """Per-crop pre-processing and inference time over frames that classified at least one crop."""
    busy = [r for r in recs if r.classified > 0]
    crops = sum(r.classified for r in busy)
    pre = sum(r.timings_ms.get("crop_preprocess", 0.0) for r in busy)
    inf = sum(r.timings_ms.get("inference", 0.0) for r in busy)
    return {"crops": crops, "frames_with_crops": len(busy),
            "preprocess_ms": round(pre / crops, 4) if crops else 0.0,
            "inference_ms": round(inf / crops, 4) if crops else 0.0,
            "preprocess_over_inference": ratio(pre, inf) if crops else float("nan")}


def whole(run: PipelineRun) -> dict[str, Any]:
    res = run.result
    return {"frames": res.frames, "fps": round(res.fps, 2), "latency_ms": res.latency_ms,
            "stages_ms_mean": res.stages_ms, "counts": res.counts}


def cli_check(mp4: str, line: str, variant: str) -> dict[str, Any]:
    """``aiotwin-device run --format json`` on the same file: what the CLI itself reports."""
    cmd = [str(ROOT / ".venv" / "bin" / "aiotwin-device"), "run", "--source", mp4, "--line", line,
           "--variant", variant, "--format", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, timeout=600)
    if out.returncode != 0:
        return {"command": " ".join(cmd), "error": out.stderr.strip()[-500:]}
    data = json.loads(out.stdout)
    return {"command": " ".join(cmd), "fps": data["fps"], "latency_ms": data["latency_ms"],
            "stages_ms": data["stages_ms"], "frames": data["frames"]}


def print_results(results: dict[str, Any], video: Any, quick: bool) -> None:
    q = " (quick)" if quick else ""
    rows = []
    for variant, r in results.items():
        s, c = r["steady"], r["steady"]["per_crop"]
        rows.append((variant, s["frames"], s["fps"], s["latency_ms"]["p50"], s["latency_ms"]["p95"],
                     s["latency_ms"]["p99"], r["whole"]["fps"], r["whole"]["latency_ms"]["p95"],
                     c["preprocess_ms"], c["inference_ms"], c["preprocess_over_inference"]))
    print_table(f"pipeline: {video.mp4.name}, 1280×720, steady state after warm-up{q}",
                ("variant", "frames", "fps", "p50 ms", "p95 ms", "p99 ms", "fps (all)", "p95 (all)",
                 "pre ms/crop", "inf ms/crop", "pre/inf"), rows)
    for variant, r in results.items():
        st = r["steady"]["stages_ms"]
        print_table(f"per-stage ms per frame, {variant} (steady)", ("stage", "mean", "p50", "p95", "max"),
                    [(s, st[s]["mean"], st[s]["p50"], st[s]["p95"], st[s]["max"]) for s in STAGES])


def targets(r: dict[str, Any], variant: str) -> list[Target]:
    s = r["steady"]
    return [Target(f"{variant}: sustained fps (steady)", s["fps"], ">=", FPS_TARGET, "fps"),
            Target(f"{variant}: per-frame latency p95 (steady)", s["latency_ms"]["p95"], "<=", P95_TARGET_MS, "ms"),
            Target(f"{variant}: per-crop pre-processing / inference", s["per_crop"]["preprocess_over_inference"],
                   "<=", CROP_RATIO_TARGET, "×")]


def bench_variant(video: Any, variant: str, threads: int, skip: int) -> dict[str, Any]:
    run = run_pipeline(video, variant, threads)
    console.print(f"{variant} on {run.provider}: {run.result.frames} frames, {run.result.fps:.1f} fps (all)")
    return {"provider": run.provider, "steady": steady(run, min(skip, max(0, len(run.records) - 2))),
            "whole": whole(run)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run.start("pipeline", args)
    threads, chosen = engine_threads(), selected_variant()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()] or [chosen]
    video = rendered(args.camera, args.seed, frames_for(args.camera, args.seconds), cache=args.cache)
    fps = float(video.truth["fps"])
    console.print(f"video {video.mp4} ({'cached' if video.cached else 'rendered'}), selected variant {chosen}, "
                  f"engine threads {threads}")
    results = {v: bench_variant(video, v, threads, round(args.skip_s * fps)) for v in variants}
    print_results(results, video, args.quick)
    cli = None if args.no_cli else cli_check(str(video.mp4), video.line_arg, variants[0])
    if cli is not None:
        shown = {k: v for k, v in cli.items() if k != "command"}
        console.print(f"CLI cross-check ({variants[0]}): {json.dumps(shown)}")
    params = {"camera": args.camera, "seed": args.seed, "frames": video.truth["frames"], "fps_video": fps,
              "resolution": video.truth["resolution"], "skip_frames": round(args.skip_s * fps),
              "engine_threads": threads, "selected_variant": chosen, "video": rel(video.mp4)}
    goals = [t for v, r in results.items() for t in targets(r, v)]
    run.finish({"params": params, "results": results, "cli": cli}, goals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
