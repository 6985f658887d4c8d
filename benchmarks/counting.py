"""Counting: count error per class and classification accuracy on scenes the model never saw.

Videos are rendered with :data:`aiotwin.models.recipe.UNSEEN_CAMERAS` (kept out of training) and
:data:`~aiotwin.models.recipe.HOLDOUT_SEEDS` (never used in training) under four conditions: day (clear),
dusk, night and rain (daylight). Each video runs through the real pipeline (file source →
``CameraPipeline`` → ``run_source``, composed like ``aiotwin-device run``) with the variant hardware
selection picks here, and is compared with its ``truth.json``.

Definitions (per condition, over all its videos, in + out together):

- count error of class c = |Σ counted_c − Σ truth_c| / Σ truth_c (the issue's definition; errors of
  opposite sign in different videos cancel) and, stricter, Σ |counted − truth| over videos and
  directions / Σ truth_c;
- total count accuracy = 1 − |Σ counted − Σ truth| / Σ truth (what published counter validations quote);
- classification accuracy (matched) = counted crossings matched to a truth crossing of the same video
  and direction within ``--match-s`` seconds (nearest first, one-to-one) whose class is right / matched;
- classification agreement (totals) = Σ_c min(counted_c, truth_c) / max(Σ counted, Σ truth).

    .venv/bin/python benchmarks/counting.py [--seconds 60] [--seeds 2] [--quick]
"""

from __future__ import annotations

import sys
import time
from typing import Any

from _common import Run, Target, base_parser, console, print_table
from _pipeline import PipelineRun, Video, engine_threads, frames_for, rendered, run_pipeline, selected_variant

CONDITIONS: dict[str, tuple[str, str]] = {
    "day": ("day", "clear"), "dusk": ("dusk", "clear"), "night": ("night", "clear"), "rain": ("day", "rain"),
}
COUNT_ERROR_TARGET = 0.05
ACCURACY_TARGET = 0.90
GAP_TARGET = 0.05  # other conditions within 5 points of day
MIN_TRUTH = 10  # classes with fewer true crossings get no per-class target (too few to judge)


def parse_args(argv: list[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="video length per camera and seed")
    parser.add_argument("--seeds", type=int, default=2, help="how many holdout seeds per camera")
    parser.add_argument("--cameras", default="", help="comma list (default: recipe.UNSEEN_CAMERAS)")
    parser.add_argument("--match-s", type=float, default=1.0, help="max time between matched crossings")
    parser.add_argument("--variant", default="", help="force a variant (default: the hardware selection)")
    parser.add_argument("--arch", choices=("edge", "cloud"), default="edge",
                        help="which shipped bundle classifies (cloud: as if every crop were offloaded)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.seeds = 4.0, 1
    return args


def split(args: Any) -> tuple[list[str], list[int], dict[str, Any]]:
    """Cameras and seeds to use, and what the recipe says about them (recorded with the results)."""
    from aiotwin.models import recipe
    from aiotwin.scenes import camera_names

    unseen = list(recipe.UNSEEN_CAMERAS) or [c for c in camera_names() if c not in recipe.TRAIN_CAMERAS]
    cameras = [c.strip() for c in args.cameras.split(",") if c.strip()] or unseen
    seeds = list(recipe.HOLDOUT_SEEDS[: max(1, args.seeds)])
    info = {"train_cameras": list(recipe.TRAIN_CAMERAS), "unseen_cameras": list(recipe.UNSEEN_CAMERAS),
            "cameras_used": cameras, "seeds_used": seeds,
            "cameras_overlap_training": sorted(set(cameras) & set(recipe.TRAIN_CAMERAS)),
            "seeds_overlap_training": sorted(set(seeds) & set(recipe.TRAIN_SEEDS))}
    return cameras, seeds, info


# --------------------------------------------------------------------------- matching and metrics


def counted_crossings(run: PipelineRun) -> list[tuple[int, str, str]]:
    """``(frame, direction, class)`` of every count event, in frame order (end-of-stream ones last)."""
    out = [(i, e.direction, e.cls) for i, r in enumerate(run.records) for e in r.events if e.kind == "count"]
    out += [(len(run.records), e.direction, e.cls) for e in run.final_events if e.kind == "count"]
    return out


def match(counted: list[tuple[int, str, str]], truth: list[dict[str, Any]], tol: int) -> list[tuple[str, str]]:
    """One-to-one, nearest-frame matching within ``tol`` frames and the same direction: (true, counted) classes."""
    free = list(truth)
    pairs = []
    for frame, direction, cls in counted:
        near = [t for t in free if t["direction"] == direction and abs(t["frame"] - frame) <= tol]
        if near:
            best = min(near, key=lambda t: abs(t["frame"] - frame))
            free.remove(best)
            pairs.append((best["cls"], cls))
    return pairs


def per_video(video: Video, run: PipelineRun, match_s: float) -> dict[str, Any]:
    counted = counted_crossings(run)
    pairs = match(counted, video.truth["crossings"], round(match_s * float(video.truth["fps"])))
    return {"video": video.mp4.name, "frames": run.result.frames, "truth": video.truth["counts"],
            "counted": run.result.counts, "truth_crossings": len(video.truth["crossings"]),
            "counted_crossings": len(counted), "matched": len(pairs),
            "matched_correct": sum(1 for t, c in pairs if t == c), "confusion": pairs}


def condition_metrics(videos: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate the videos of one condition into the metrics of the module docstring."""
    classes = list(videos[0]["truth"])
    truth = {c: sum(v["truth"][c]["in"] + v["truth"][c]["out"] for v in videos) for c in classes}
    counted = {c: sum(v["counted"].get(c, {}).get("in", 0) + v["counted"].get(c, {}).get("out", 0)
                      for v in videos) for c in classes}
    abs_err = {c: sum(abs(v["counted"].get(c, {}).get(d, 0) - v["truth"][c][d]) for v in videos for d in ("in", "out"))
               for c in classes}
    t_all, c_all = sum(truth.values()), sum(counted.values())
    matched = sum(v["matched"] for v in videos)
    per_class = {c: {"truth": truth[c], "counted": counted[c],
                     "count_error": round(abs(counted[c] - truth[c]) / truth[c], 4) if truth[c] else None,
                     "count_error_abs": round(abs_err[c] / truth[c], 4) if truth[c] else None} for c in classes}
    return {"videos": len(videos), "truth_total": t_all, "counted_total": c_all, "per_class": per_class,
            "total_count_accuracy": round(1 - abs(c_all - t_all) / t_all, 4) if t_all else None,
            "matched": matched, "match_rate": round(matched / t_all, 4) if t_all else None,
            "accuracy_matched": round(sum(v["matched_correct"] for v in videos) / matched, 4) if matched else None,
            "agreement_totals": round(sum(min(counted[c], truth[c]) for c in classes) / max(c_all, t_all), 4)
            if max(c_all, t_all) else None}


# --------------------------------------------------------------------------- running


def run_condition(name: str, cameras: list[str], seeds: list[int], args: Any, variant: str) -> dict[str, Any]:
    lighting, weather = CONDITIONS[name]
    videos = []
    for cam in cameras:
        for seed in seeds:
            video = rendered(cam, seed, frames_for(cam, args.seconds), lighting, weather, args.cache)
            run = run_pipeline(video, variant, engine_threads(), arch=args.arch)
            videos.append(per_video(video, run, args.match_s))
    metrics = condition_metrics(videos)
    console.print(f"{name}: {metrics['truth_total']} true crossings, {metrics['counted_total']} counted, "
                  f"accuracy (matched) {metrics['accuracy_matched']}")
    return {"lighting": lighting, "weather": weather, **metrics, "per_video": videos}


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def print_results(results: dict[str, Any], quick: bool) -> None:
    rows = [(n, r["videos"], r["truth_total"], r["counted_total"], pct(r["total_count_accuracy"]),
             pct(r["accuracy_matched"]), pct(r["agreement_totals"]), pct(r["match_rate"])) for n, r in results.items()]
    print_table(f"counting on unseen cameras and holdout seeds{' (quick)' if quick else ''}",
                ("condition", "videos", "truth", "counted", "total count acc", "class acc (matched)",
                 "class agreement (totals)", "crossings matched"), rows)
    classes = list(next(iter(results.values()))["per_class"])
    print_table("count error per class: |Σcounted − Σtruth| / Σtruth (strict Σ|…| in brackets), truth n",
                ("class", *results),
                [(c, *(_cell(r["per_class"][c]) for r in results.values())) for c in classes])


def _cell(pc: dict[str, Any]) -> str:
    if pc["truth"] == 0:
        return f"- (n=0, counted {pc['counted']})"
    return f"{pct(pc['count_error'])} ({pct(pc['count_error_abs'])}) n={pc['truth']}"


def targets(results: dict[str, Any]) -> list[Target]:
    day = results["day"]
    out = [Target(f"day: count error {c} (n={pc['truth']})", 100 * pc["count_error"], "<=",
                  100 * COUNT_ERROR_TARGET, "%") for c, pc in day["per_class"].items() if pc["truth"] >= MIN_TRUTH]
    out.append(Target("day: classification accuracy (matched)", _p(day["accuracy_matched"]), ">=",
                      100 * ACCURACY_TARGET, "%"))
    for name in (n for n in results if n != "day"):
        for key, label in (("accuracy_matched", "classification accuracy"), ("total_count_accuracy", "count acc.")):
            gap = _p(day[key]) - _p(results[name][key])
            out.append(Target(f"{name}: {label} points below day", gap, "<=", 100 * GAP_TARGET, "pts"))
    return out


def _p(v: float | None) -> float:
    return float("nan") if v is None else 100 * v


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run.start("counting" if args.arch == "edge" else f"counting-{args.arch}", args)
    cameras, seeds, info = split(args)
    variant = args.variant or selected_variant()
    console.print(f"cameras {cameras}, seeds {seeds}, {args.seconds:g} s each, variant {variant}")
    t0 = time.monotonic()
    results = {name: run_condition(name, cameras, seeds, args, variant) for name in CONDITIONS}
    print_results(results, args.quick)
    params = {"seconds": args.seconds, "match_s": args.match_s, "variant": variant, "arch": args.arch,
              "min_truth_for_target": MIN_TRUTH,
              "wall_s": round(time.monotonic() - t0, 1), **info}
    run.finish({"params": params, "results": results}, targets(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
