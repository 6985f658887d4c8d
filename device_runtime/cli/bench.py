"""``aiotwin-device bench``: measure every variant of the bundle that runs here, and optionally pin one.

Per variant: p50/p99 latency of ``classify`` on one crop (batch 1, pre-processing included),
throughput in crops/s at batch 8, and top-1 accuracy on the holdout (crops rendered with
:data:`aiotwin.models.recipe.HOLDOUT_SEEDS`, never used in training; a bundle built on toy data is
measured on fresh toy crops). Variants that cannot run here are listed with the reason.

Output: a rich table on stdout and JSON in ``<data-dir>/bench.json`` (``--out FILE`` elsewhere;
``--format json`` prints the JSON on stdout instead of the table). ``--pin`` writes the fastest
variant (lowest p50) whose accuracy is within :data:`PIN_TOLERANCE_POINTS` of ``onnx-fp32`` to
``<data-dir>/pinned-variant``, which the node's variant selection honours (docs/engines.md).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import numpy.typing as npt
import typer

from device_runtime._exceptions import NoVariantError
from device_runtime.cli._app import app, guarded

if TYPE_CHECKING:
    from aiotwin.bundle import Bundle
    from aiotwin.engines import Engine

PIN_TOLERANCE_POINTS = 1.5  # accuracy points below onnx-fp32 a pinned variant may lose (the bar)
REFERENCE_VARIANT = "onnx-fp32"
THROUGHPUT_BATCH = 8
WARMUP_CALLS = 10  # first calls allocate arenas / build XNNPACK plans: not part of the steady state
ACCURACY_BATCH = 32
DEFAULT_ITERATIONS = 300
DEFAULT_HOLDOUT = 600
BENCH_FILE = "bench.json"
Crops = npt.NDArray[np.uint8]


class BenchFormat(StrEnum):
    text = "text"
    json = "json"


@dataclass(frozen=True)
class Holdout:
    x: Crops  # N×H×W×3 in the bundle's colour order
    y: npt.NDArray[np.int64]
    source: str


@dataclass
class VariantResult:
    variant: str
    status: str  # ok | unavailable | failed
    reason: str = ""
    provider: str | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    throughput_cps: float | None = None
    accuracy: float | None = None
    reference: bool = False  # torch reference: measured, never pinned


def throughput(engine: Engine, batch: Crops, iterations: int) -> float:
    """Crops per second classifying ``batch`` repeatedly."""
    for _ in range(max(1, WARMUP_CALLS // 2)):
        engine.classify(batch)
    t0 = time.perf_counter()
    for _ in range(iterations):
        engine.classify(batch)
    return len(batch) * iterations / (time.perf_counter() - t0)


def accuracy(engine: Engine, holdout: Holdout) -> float:
    from aiotwin.engines.measure import classify_all

    probs = classify_all(engine, holdout.x, ACCURACY_BATCH)
    return float(np.mean(probs.argmax(axis=1) == holdout.y)) if len(holdout.y) else 0.0


def load_holdout(bundle: Bundle, size: int) -> Holdout:
    """``size`` labelled holdout crops at the bundle's input size (raises when none can be made)."""
    from aiotwin.models import data, recipe

    spec = bundle.manifest.input
    if bundle.manifest.extra.get("build", {}).get("toy"):
        x, y = data.toy_store(size, seed=recipe.HOLDOUT_SEEDS[0], size=spec.height).arrays()
        source = f"toy crops, seed {recipe.HOLDOUT_SEEDS[0]}"
    else:
        per_camera = math.ceil(size / max(1, len(recipe.HOLDOUT_CAMERAS)))
        x, y = data.holdout_store(per_camera=per_camera).arrays()
        source = f"scenes {list(recipe.HOLDOUT_CAMERAS)}, seeds {list(recipe.HOLDOUT_SEEDS)}"
    x, y = x[:size], y[:size]
    if len(y) == 0:
        raise ValueError(f"the holdout is empty ({source})")
    if spec.color == "bgr":
        x = np.ascontiguousarray(x[..., ::-1])
    return Holdout(x, y, source)


def bench_variant(bundle: Bundle, variant: str, *, threads: int, iterations: int,
                  holdout: Holdout | None) -> VariantResult:
    from aiotwin._exceptions import AiotwinError
    from aiotwin.engines import TORCH_REFERENCE, engine_available, open_engine

    result = VariantResult(variant, "ok", reference=variant == TORCH_REFERENCE)
    if reason := engine_available(variant):
        result.status, result.reason = "unavailable", reason
        return result
    try:
        engine = open_engine(bundle, variant, threads=threads)
    except AiotwinError as exc:
        result.status, result.reason = "failed", str(exc)
        return result
    try:
        _measure(engine, bundle, result, iterations, holdout)
    except AiotwinError as exc:
        result.status, result.reason = "failed", str(exc)
    finally:
        engine.close()
    return result


def _measure(engine: Engine, bundle: Bundle, result: VariantResult, iterations: int,
             holdout: Holdout | None) -> None:
    from aiotwin.engines.measure import latency_ms

    spec = bundle.manifest.input
    crops = (holdout.x[:THROUGHPUT_BATCH] if holdout is not None and len(holdout.x) >= THROUGHPUT_BATCH
             else np.random.default_rng(0).integers(0, 256, (THROUGHPUT_BATCH, spec.height, spec.width, 3),
                                                    dtype=np.uint8))
    result.provider = engine.provider
    result.p50_ms, result.p99_ms = latency_ms(engine, crops[:1], runs=iterations, warmup=WARMUP_CALLS)
    result.throughput_cps = throughput(engine, crops, max(1, iterations // THROUGHPUT_BATCH))
    if holdout is not None:
        result.accuracy = accuracy(engine, holdout)


def choose_pin(results: list[VariantResult], tolerance_points: float = PIN_TOLERANCE_POINTS) -> VariantResult:
    """The fastest (lowest p50) measured variant within ``tolerance_points`` of the fp32 accuracy."""
    measured = [r for r in results if r.status == "ok" and not r.reference and r.accuracy is not None
                and r.p50_ms is not None]
    ref = next((r for r in measured if r.variant == REFERENCE_VARIANT), None)
    if ref is None or ref.accuracy is None:
        raise NoVariantError(f"cannot pin: {REFERENCE_VARIANT} was not measured with a holdout accuracy here")
    floor = ref.accuracy - tolerance_points / 100.0
    eligible = [r for r in measured if r.accuracy is not None and r.accuracy >= floor - 1e-9]
    return min(eligible, key=lambda r: r.p50_ms if r.p50_ms is not None else math.inf)


def write_pin(data_dir: Path, chosen: VariantResult, bundle: Bundle) -> Path:
    """Write ``<data-dir>/pinned-variant`` (JSON with a ``variant`` key) atomically."""
    from device_runtime._model import PINNED_VARIANT_FILE

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / PINNED_VARIANT_FILE
    body = {"variant": chosen.variant, "bundle": bundle.manifest.name, "version": bundle.manifest.version,
            "p50_ms": chosen.p50_ms, "accuracy": chosen.accuracy, "pinned_by": "aiotwin-device bench --pin",
            "ts": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _host() -> dict[str, Any]:
    return {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.system()}


def run_bench(bundle: Bundle, *, threads: int, iterations: int, holdout_size: int,
              reference: bool) -> dict[str, Any]:
    """Measure every variant; returns the JSON-ready report (``pinned`` filled in by the caller)."""
    from aiotwin.engines import TORCH_REFERENCE

    holdout, holdout_note = _try_holdout(bundle, holdout_size)
    variants = list(bundle.manifest.variants) + ([TORCH_REFERENCE] if reference else [])
    results = []
    for variant in variants:
        _progress(f"bench: {variant} …")
        results.append(bench_variant(bundle, variant, threads=threads, iterations=iterations, holdout=holdout))
    return {
        "bundle": {"name": bundle.manifest.name, "version": bundle.manifest.version, "path": str(bundle.path)},
        "host": _host(), "threads": threads, "iterations": iterations, "throughput_batch": THROUGHPUT_BATCH,
        "holdout": {"size": 0 if holdout is None else len(holdout.y),
                    "source": holdout.source if holdout else holdout_note},
        "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        "variants": [asdict(r) for r in results],
        "pinned": None,
    }


def _try_holdout(bundle: Bundle, size: int) -> tuple[Holdout | None, str]:
    from aiotwin._exceptions import AiotwinError

    if size <= 0:
        return None, "disabled (--holdout-size 0)"
    try:
        return load_holdout(bundle, size), ""
    except (AiotwinError, ValueError, ImportError) as exc:
        _progress(f"bench: no holdout accuracy: {exc}")
        return None, f"unavailable: {exc}"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    b = report["bundle"]
    table = Table(title=f"{b['name']} v{b['version']} · {report['threads']} threads · "
                        f"holdout {report['holdout']['size']}")
    for col in ("variant", "provider"):
        table.add_column(col)
    for col in ("p50 ms", "p99 ms", f"crops/s @{THROUGHPUT_BATCH}", "accuracy"):
        table.add_column(col, justify="right")
    table.add_column("note")
    for r in report["variants"]:
        pinned = " (pinned)" if r["variant"] == report["pinned"] else ""
        table.add_row(r["variant"] + pinned, r["provider"] or "-", _fmt(r["p50_ms"], ".3f"),
                      _fmt(r["p99_ms"], ".3f"), _fmt(r["throughput_cps"], ".0f"),
                      _fmt(r["accuracy"], ".3f"), r["reason"] or ("reference" if r["reference"] else ""))
    Console(width=max(120, Console().width)).print(table)


def _resolve(config: Path | None, bundle: Path | None, data_dir: Path | None,
             threads: int | None) -> tuple[Path, Path, int]:
    from aiotwin.bundle import default_bundle_dir

    cfg = None
    if config is not None:
        from device_runtime.config import load_device_config

        cfg = load_device_config(config)
    if data_dir is None:
        if cfg is not None:
            data_dir = cfg.data_dir
        else:
            from device_runtime.daemon import demo_data_dir

            data_dir = demo_data_dir(os.environ)
    bundle = bundle or (cfg.bundle if cfg and cfg.bundle else default_bundle_dir("edge"))
    return bundle, data_dir, threads or (cfg.threads if cfg else 2)


@app.command()
def bench(
    *,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Bundle directory (default: shipped).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="device.toml (data dir, bundle).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where bench.json/pinned-variant go.")]
    = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Engine threads (default 2).")] = None,
    iterations: Annotated[int, typer.Option("--iterations", min=1, help="Timed calls per variant.")]
    = DEFAULT_ITERATIONS,
    holdout_size: Annotated[int, typer.Option("--holdout-size", min=0, help="Holdout crops (0: none).")]
    = DEFAULT_HOLDOUT,
    out: Annotated[Path | None, typer.Option("--out", help="Write the JSON here.")] = None,
    fmt: Annotated[BenchFormat, typer.Option("--format", help="text: table; json: JSON on stdout.")]
    = BenchFormat.text,
    pin: Annotated[bool, typer.Option("--pin", help="Pin the fastest variant within tolerance.")] = False,
    reference: Annotated[bool, typer.Option("--reference", help="Also time the torch fp32 reference.")]
    = False,
) -> None:
    """Measure latency, throughput and holdout accuracy of every variant that runs here."""

    def body() -> int:
        from aiotwin.bundle import load_bundle

        bundle_dir, ddir, n_threads = _resolve(config, bundle, data_dir, threads)
        loaded = load_bundle(bundle_dir)
        report = run_bench(loaded, threads=n_threads, iterations=iterations, holdout_size=holdout_size,
                           reference=reference)
        if pin:
            chosen = choose_pin([VariantResult(**r) for r in report["variants"]])
            report["pinned"] = chosen.variant
            _progress(f"bench: pinned {chosen.variant} in {write_pin(ddir, chosen, loaded)}")
        _emit(report, fmt, out, ddir)
        return 0

    guarded(body)


def _emit(report: dict[str, Any], fmt: BenchFormat, out: Path | None, data_dir: Path) -> None:
    text = json.dumps(report, indent=2) + "\n"
    if fmt is BenchFormat.json:
        typer.echo(text, nl=False)
    else:
        print_table(report)
    target = out or (data_dir / BENCH_FILE if fmt is BenchFormat.text else None)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        _progress(f"bench: wrote {target}")


__all__ = [
    "PIN_TOLERANCE_POINTS", "BenchFormat", "Holdout", "VariantResult", "accuracy", "bench", "choose_pin",
    "load_holdout", "run_bench", "throughput", "write_pin",
]
