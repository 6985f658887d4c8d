"""Serving: one model at batch 1, 2 threads, through torch eager, ONNX Runtime and LiteRT.

Every engine is opened with ``aiotwin.engines.open_engine`` (torch through its ``torch-fp32`` reference
engine, which runs the same fp32 weights), so each timed ``classify`` call includes the same
pre-processing (normalise, quantise) and softmax. Inputs are real holdout crops from the scene
renderer (``aiotwin.models.data.holdout_store``), cycled. Each engine is timed in :data:`ROUNDS` rounds
that rotate over the engines, so load drift on a shared machine hits them all alike, with only one
engine open at a time (as on a camera node).

    .venv/bin/python benchmarks/serving.py [--iterations 2000] [--archs edge,cloud] [--quick]
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import Run, Target, base_parser, console, print_table, ratio, stats_ms, time_calls

from aiotwin import BundleError

TORCH = "torch-fp32"
VARIANTS = ("onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8")
FAST = ("onnx-fp32", "onnx-int8", "tflite-int8")  # the variants the ≥ 3× target is about (fp16: information)
SPEEDUP_TARGET = 3.0
INT8_TARGET = 1.5
ROUNDS = 4  # each engine is timed in this many rounds, rotating over the engines (drift hits all alike)

def parse_args(argv: list[str] | None = None) -> Any:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="timed calls per engine (default 2000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per engine and round first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--archs", default="edge,cloud", help="bundles to measure (comma list)")
    parser.add_argument("--per-camera", type=int, default=40, help="holdout crops per camera")
    parser.add_argument("--no-spin", dest="spin", action="store_false",
                        help="onnxruntime threads sleep between calls (the camera pipeline's setting; default: "
                             "they spin, as a server answering one session flat out)")
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations, args.warmup, args.per_camera = 20, 5, 4
    return args


def load_crops(per_camera: int, size: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Holdout crops (seeds never used in training) at ``size``×``size`` (the model's input), RGB.

    The same objects at every size, so the accuracies of the two bundles compare.
    """
    from aiotwin.models.data import holdout_store

    return holdout_store("standard", per_camera=per_camera, size=size).arrays()


def engine_names(arch: str) -> tuple[Any, list[str]]:
    """The bundle of ``arch`` and every engine that runs here: torch first, then the bundle's variants."""
    from aiotwin.bundle import default_bundle_dir, load_bundle
    from aiotwin.engines import engine_available

    bundle = load_bundle(default_bundle_dir(arch))
    names = []
    for name in (TORCH, *VARIANTS):
        if name != TORCH and name not in bundle.manifest.variants:
            continue
        why = engine_available(name)
        if why is not None:
            console.print(f"[yellow]{arch} {name}: skipped: {why}[/]")
            continue
        names.append(name)
    return bundle, names


def time_rounds(bundle: Any, names: list[str], args: Any, x: npt.NDArray[np.uint8]) -> dict[str, Any]:
    """Per engine: ms per batch-1 ``classify`` over :data:`ROUNDS` rounds, its provider and its accuracy input.

    Only one engine is open at a time, as on a camera node: two onnxruntime sessions in one process
    each keep a spinning intra-op pool, and on 2 cores they stall each other (~4 ms, ~2 % of calls).
    """
    from aiotwin.engines import open_engine

    per_round = max(1, -(-args.iterations // ROUNDS))
    out: dict[str, Any] = {name: {"samples": [], "provider": ""} for name in names}
    for r in range(ROUNDS):
        for name in names:
            engine = open_engine(bundle, name, threads=args.threads, spin=args.spin)
            try:
                out[name]["samples"] += time_calls(_feeder(engine, x), per_round, args.warmup)
                out[name]["provider"] = engine.provider
                if r == 0:
                    out[name]["probs"] = _probs(engine, x)
            finally:
                engine.close()
    return out


def _feeder(engine: Any, x: npt.NDArray[np.uint8]) -> Any:
    singles = [x[i:i + 1] for i in range(len(x))]
    state = {"i": 0}

    def call() -> object:
        state["i"] = (state["i"] + 1) % len(singles)
        return engine.classify(singles[state["i"]])

    return call


def _probs(engine: Any, x: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return np.concatenate([engine.classify(x[i:i + 32]) for i in range(0, len(x), 32)])


def bench_arch(arch: str, args: Any) -> dict[str, Any]:
    bundle, names = engine_names(arch)
    x, y = load_crops(args.per_camera, bundle.manifest.input.height)
    console.print(f"{arch}: {len(x)} holdout crops {x.shape[1]}×{x.shape[2]}, threads={args.threads}")
    timed = time_rounds(bundle, names, args, x)
    rows = {name: {"provider": t["provider"], "latency_ms": stats_ms(t["samples"]),
                   "accuracy": round(float((t["probs"].argmax(axis=1) == y).mean()), 4)}
            for name, t in timed.items()}
    _add_ratios(rows)
    return {"bundle": bundle.manifest.name, "version": bundle.manifest.version, "input": int(x.shape[1]),
            "crops": len(x), "params": bundle.manifest.extra.get("params"), "engines": rows}


def _add_ratios(rows: dict[str, dict[str, Any]]) -> None:
    """``speedup_vs_torch`` (torch p50 / engine p50), ``…_p99`` and ``speedup_vs_onnx_fp32`` (p50) on every row."""
    base, fp32 = rows.get(TORCH), rows.get("onnx-fp32")
    for row in rows.values():
        lat = row["latency_ms"]
        row["speedup_vs_torch"] = ratio(base["latency_ms"]["p50"], lat["p50"]) if base else None
        row["speedup_vs_torch_p99"] = ratio(base["latency_ms"]["p99"], lat["p99"]) if base else None
        row["speedup_vs_onnx_fp32"] = ratio(fp32["latency_ms"]["p50"], lat["p50"]) if fp32 else None


def print_arch(arch: str, result: dict[str, Any], quick: bool) -> None:
    cols = ("engine", "provider", "p50 ms", "p99 ms", "mean ms", "× torch (p50)", "× torch (p99)", "× onnx-fp32 (p50)",
            "acc")
    rows = [(name, r["provider"], r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["mean"],
             r["speedup_vs_torch"], r["speedup_vs_torch_p99"], r["speedup_vs_onnx_fp32"], r["accuracy"])
            for name, r in result["engines"].items()]
    n = next(iter(result["engines"].values()))["latency_ms"]["n"] if result["engines"] else 0
    print_table(f"serving: {result['bundle']} v{result['version']} ({result['params']} params), batch 1, "
                f"{n} calls per engine{' (quick)' if quick else ''}", cols, rows)


def targets(arch: str, result: dict[str, Any]) -> list[Target]:
    """≥ 3× torch for every ORT/LiteRT variant (p50), int8 ≥ 1.5× fp32 (p50)."""
    rows = result["engines"]
    out = [Target(f"{arch} {name} vs torch eager (p50 speedup)", rows[name]["speedup_vs_torch"], ">=",
                  SPEEDUP_TARGET, "×") for name in FAST if name in rows and TORCH in rows]
    if "onnx-fp32" in rows:
        fp32 = rows["onnx-fp32"]["latency_ms"]["p50"]
        out += [Target(f"{arch} {name} vs onnx-fp32 (p50 speedup)", ratio(fp32, rows[name]["latency_ms"]["p50"]),
                       ">=", INT8_TARGET, "×") for name in ("onnx-int8", "tflite-int8") if name in rows]
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run.start("serving", args)
    results: dict[str, Any] = {}
    goals: list[Target] = []
    for arch in [a.strip() for a in args.archs.split(",") if a.strip()]:
        try:
            results[arch] = bench_arch(arch, args)
        except BundleError as exc:  # e.g. the cloud bundle is not built in this checkout
            console.print(f"[yellow]{arch}: skipped: {exc}[/]")
            results[arch] = {"skipped": str(exc)}
            continue
        print_arch(arch, results[arch], args.quick)
        goals += targets(arch, results[arch]) if arch == "edge" else []
    params = {"iterations": args.iterations, "warmup_per_round": args.warmup, "rounds": ROUNDS,
              "threads": args.threads, "batch": 1, "one_engine_open_at_a_time": True, "ort_spin": args.spin}
    run.finish({"params": params, "results": results}, goals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
