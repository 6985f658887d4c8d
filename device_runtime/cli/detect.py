"""``aiotwin-device detect``: probe the hardware, match a board profile and choose the model variant.

``--root DIR`` probes a fake or mounted tree instead of ``/``; ``--format json`` prints data only.
``AIOTWIN_VARIANT`` / ``AIOTWIN_BACKEND`` force a variant or restrict to one runtime.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from device_runtime import hw
from device_runtime.cli._app import app, guarded


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


RootOption = Annotated[Path, typer.Option("--root", help="Filesystem root to probe (a fake tree in tests).")]
FormatOption = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


@dataclass(frozen=True)
class Outcome:
    """Everything ``detect`` found, ready to print."""

    detection: hw.Detection
    runtime: hw.RuntimeInfo
    bundle: hw.BundleVariants
    choice: hw.Choice

    def as_dict(self) -> dict[str, Any]:
        return {**self.detection.report.as_dict(), **self.choice.as_dict(),
                "bundle": self.bundle.as_dict(), "runtimes": self.runtime.as_dict()}


def run_detection(root: Path, bundle: Path | None, env: Mapping[str, str]) -> Outcome:
    """Probe ``root``, the runtimes of this interpreter and the bundle; select the variant."""
    override = hw.resolve_override(env)  # a bad value fails before any probing
    detection = hw.detect_hardware(root, runner=hw.runner_for_root(root))
    runtime = hw.probe_runtimes(check_edgetpu=detection.report.has("edgetpu"))
    variants = hw.bundle_variants(bundle)
    choice = hw.select_variant(detection.report, detection.profile, variants.variants, runtime, override)
    return Outcome(detection, runtime, variants, choice)


def print_json(data: Mapping[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2))


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def hardware_table(report: hw.HardwareReport) -> Table:
    table = Table(title="Hardware", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    rows = [("profile", f"{report.profile}{' (generic fallback)' if report.fallback else ''}"),
            ("model", report.model or "-"), ("arch", report.arch),
            ("cpu", f"{report.cpu_cores} x {report.cpu_model}"), ("cpu flags", " ".join(report.cpu_flags) or "-"),
            ("memory", f"{report.mem_total_mb} MiB"), ("usb ids", " ".join(report.usb_ids) or "-")]
    if report.l4t:
        rows.append(("L4T / JetPack", f"{report.l4t} / {report.jetpack or '?'}"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def accelerator_table(accelerators: tuple[hw.Accelerator, ...], status: Mapping[str, str] | None = None) -> Table:
    table = Table(title="Accelerators")
    for column in ("kind", "interface", "count", "detail", *(["status"] if status else [])):
        table.add_column(column)
    for acc in accelerators:
        extra = [status.get(acc.kind, "")] if status else []
        table.add_row(acc.kind, acc.interface or "-", str(acc.count), acc.detail, *extra)
    return table


def variant_table(choice: hw.Choice) -> Table:
    table = Table(title="Model variants (preferred order)")
    for column in ("variant", "status", "reason"):
        table.add_column(column)
    reasons = {r.variant: r.reason for r in choice.rejected}
    for variant in dict.fromkeys([*(r.variant for r in choice.rejected), *choice.runnable]):
        status = "chosen" if variant == choice.variant else ("runnable" if variant in choice.runnable else "rejected")
        table.add_row(variant, status, reasons.get(variant, ""))
    return table


def print_notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)


def _print_text(outcome: Outcome) -> None:
    console = Console()
    report = outcome.detection.report
    console.print(hardware_table(report))
    console.print(accelerator_table(report.accelerators))
    console.print(variant_table(outcome.choice))
    chosen = outcome.choice.variant or "none"
    console.print(f"variant: [bold]{chosen}[/bold] ({outcome.choice.runtime or 'no runtime'})", highlight=False)
    print_notes(console, [*report.notes, *([outcome.bundle.note] if outcome.bundle.note else [])])


@app.command()
def detect(
    root: RootOption = Path("/"),
    output: FormatOption = OutputFormat.text,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Model bundle directory (default: the shipped one).")
    ] = None,
) -> None:
    """Print the detected hardware, its board profile and the model variant it would run."""

    def body() -> int:
        outcome = run_detection(root, bundle, os.environ)
        if output is OutputFormat.json:
            print_json(outcome.as_dict())
        else:
            _print_text(outcome)
        return 0

    guarded(body)


__all__ = [
    "FormatOption", "Outcome", "OutputFormat", "RootOption", "accelerator_table", "detect", "hardware_table",
    "print_json", "print_notes", "run_detection", "variant_table",
]
