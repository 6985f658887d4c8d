"""``aiotwin-device doctor``: what this node has, what it would run, and what is missing.

Accelerators that no test inference exercises here (Edge TPU, TensorRT/CUDA) are marked
``unverified``. ``--expect-all`` exits with ``DEVICE_DOCTOR_MISSING`` when any backend is missing
(CI images use it). A missing default bundle or a bad ``AIOTWIN_*`` value is reported, not fatal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aiotwin._exceptions import BundleError, ConfigError
from aiotwin.availability import BACKENDS, availability_table
from aiotwin.exitcodes import ExitCode
from device_runtime import hw
from device_runtime.cli._app import app, guarded
from device_runtime.cli.detect import (
    FormatOption,
    OutputFormat,
    RootOption,
    accelerator_table,
    hardware_table,
    print_json,
    print_notes,
    variant_table,
)

# What to install when an accelerator is present but its runtime part is not.
ACCELERATOR_HINTS: dict[str, str] = {
    "edgetpu": "install libedgetpu1-std from the Coral apt repository (https://coral.ai/software/#debian-packages)",
    "cuda": "install an onnxruntime build with CUDA/TensorRT (onnxruntime-gpu on x86, NVIDIA's wheel on Jetson)",
}


@dataclass(frozen=True)
class Diagnosis:
    """The doctor's findings, ready to print."""

    detection: hw.Detection
    runtime: hw.RuntimeInfo
    bundle: hw.BundleVariants
    choice: hw.Choice
    backends: dict[str, list[str]]
    problems: list[str] = field(default_factory=list)

    @property
    def missing_backends(self) -> list[str]:
        return [name for name, missing in self.backends.items() if missing]


def accelerator_status(acc: hw.Accelerator, runtime: hw.RuntimeInfo) -> tuple[str, str]:
    """(status, why): the CPU is exercised by every backend; Edge TPU and CUDA are not, here."""
    if acc.kind == "edgetpu":
        loads = "libedgetpu delegate loads" if runtime.edgetpu_delegate else "libedgetpu delegate not loadable"
        return "unverified", f"{loads}; no Edge TPU inference run"
    if acc.kind == "cuda":
        gpu = [p for p in runtime.ort_providers if p in ("TensorrtExecutionProvider", "CUDAExecutionProvider")]
        providers = ", ".join(gpu) or "no TensorRT/CUDA execution provider"
        return "unverified", f"{providers}; no TensorRT/CUDA inference run"
    return "ok", ""


def _hints(diag: Diagnosis) -> list[str]:
    out = [f"{name}: pip install 'aiotwin[{BACKENDS[name].extra}]' (missing {', '.join(missing)})"
           for name, missing in diag.backends.items() if missing]
    rejected = {r.variant for r in diag.choice.rejected}
    if diag.detection.report.has("edgetpu") and not diag.runtime.edgetpu_delegate:
        out.append(f"edgetpu: {ACCELERATOR_HINTS['edgetpu']}")
    if diag.detection.report.has("cuda") and "onnx-fp16" in rejected:
        out.append(f"cuda: {ACCELERATOR_HINTS['cuda']}")
    return out


def _missing_extras(diag: Diagnosis) -> list[str]:
    """Extras the board's profile requires that are not fully installed."""
    incomplete = {BACKENDS[name].extra for name in diag.missing_backends}
    return [extra for extra in diag.detection.profile.extras if extra in incomplete]


def _bundle(problems: list[str]) -> hw.BundleVariants:
    try:
        return hw.bundle_variants(None)
    except BundleError as exc:
        problems.append(f"default bundle is invalid: {exc}")
        return hw.BundleVariants("", False, hw.ASSUMED_VARIANTS, "default bundle invalid: variants assumed")


def _override(env: Mapping[str, str], problems: list[str]) -> hw.Override:
    try:
        return hw.resolve_override(env)
    except ConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
        return hw.NO_OVERRIDE


def diagnose(root: Path, env: Mapping[str, str]) -> Diagnosis:
    """Probe everything; only an unusable hardware root raises."""
    problems: list[str] = []
    detection = hw.detect_hardware(root, runner=hw.runner_for_root(root))
    runtime = hw.probe_runtimes(check_edgetpu=detection.report.has("edgetpu"))
    bundle = _bundle(problems)
    choice = hw.select_variant(detection.report, detection.profile, bundle.variants, runtime,
                               _override(env, problems))
    if choice.variant is None:
        problems.append("no model variant can run here")
    return Diagnosis(detection, runtime, bundle, choice, availability_table(), problems)


def diagnosis_dict(diag: Diagnosis) -> dict[str, Any]:
    accelerators = []
    for acc in diag.detection.report.accelerators:
        status, why = accelerator_status(acc, diag.runtime)
        accelerators.append({**acc.as_dict(), "status": status, "why": why})
    backends = [{"name": name, "available": not missing, "missing": missing,
                 "install": f"pip install 'aiotwin[{BACKENDS[name].extra}]'" if missing else None}
                for name, missing in diag.backends.items()]
    return {
        "hardware": diag.detection.report.as_dict(), "profile": diag.detection.profile.name,
        "accelerators": accelerators, "runtimes": diag.runtime.as_dict(), "backends": backends,
        "bundle": diag.bundle.as_dict(), **diag.choice.as_dict(), "missing_extras": _missing_extras(diag),
        "hints": _hints(diag), "problems": diag.problems, "ok": not diag.problems and not diag.missing_backends,
    }


def _backend_table(diag: Diagnosis) -> Table:
    table = Table(title="Backends")
    for column in ("backend", "status", "install"):
        table.add_column(column)
    for name, missing in diag.backends.items():
        hint = f"pip install 'aiotwin[{BACKENDS[name].extra}]'" if missing else ""
        table.add_row(name, f"missing {', '.join(missing)}" if missing else "ok", hint)
    return table


def _print_text(diag: Diagnosis) -> None:
    console = Console()
    report = diag.detection.report
    status: dict[str, str] = {
        a.kind: " ".join(accelerator_status(a, diag.runtime)).strip() for a in report.accelerators
    }
    for table in (hardware_table(report), accelerator_table(report.accelerators, status),
                  _backend_table(diag), variant_table(diag.choice)):
        console.print(table)
    console.print(f"chosen: [bold]{diag.choice.variant or 'none'}[/bold] on "
                  f"{diag.choice.runtime or 'no runtime'}", highlight=False)
    for line in [*diag.problems, *_hints(diag)]:
        console.print(f"[red]-[/red] {line}", highlight=False)
    print_notes(console, [*report.notes, *([diag.bundle.note] if diag.bundle.note else [])])


@app.command()
def doctor(
    expect_all: Annotated[
        bool, typer.Option("--expect-all", help="Exit non-zero if any backend is missing.")
    ] = False,
    root: RootOption = Path("/"),
    output: FormatOption = OutputFormat.text,
) -> None:
    """Check hardware, backends, the chosen variant and missing extras."""

    def body() -> int:
        diag = diagnose(root, os.environ)
        if output is OutputFormat.json:
            print_json(diagnosis_dict(diag))
        else:
            _print_text(diag)
        return int(ExitCode.DEVICE_DOCTOR_MISSING) if expect_all and diag.missing_backends else 0

    guarded(body)


__all__ = ["ACCELERATOR_HINTS", "Diagnosis", "accelerator_status", "diagnose", "diagnosis_dict", "doctor"]
