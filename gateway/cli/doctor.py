"""``aiotwin-gateway doctor``: which inference backends are installed and which bundles can be served.

Looks only: backends by :mod:`aiotwin.availability` (``find_spec``), bundles by their manifests, and
variants by :func:`aiotwin.engines.engine_available`. No runtime is imported and no engine opened.
``--expect-all`` exits with ``GATEWAY_DOCTOR_MISSING`` when an inference backend is missing or no
shipped bundle can be served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aiotwin._exceptions import AiotwinError
from aiotwin.availability import BACKENDS, availability_table
from aiotwin.bundle import MANIFEST, default_bundle_dir, load_bundle
from aiotwin.engines import engine_available
from aiotwin.exitcodes import ExitCode
from gateway._exceptions import NoServableVariant
from gateway.cli._app import app, guarded
from gateway.serve._model import FALLBACK_ARCH, SERVED_ARCH, choose_variant

INFER_BACKENDS: tuple[str, ...] = ("onnxruntime", "litert", "opencv")


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


@dataclass(frozen=True)
class BundleReport:
    """One bundle directory: found or not, and which of its variants can run here."""

    where: str
    path: Path
    found: bool
    name: str = ""
    version: int | None = None
    variants: tuple[tuple[str, str | None], ...] = ()  # (variant, why it cannot run or None)
    chosen: str | None = None
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "path": str(self.path), "found": self.found, "name": self.name,
                "version": self.version, "chosen": self.chosen, "problem": self.problem or None,
                "variants": [{"variant": v, "runnable": why is None, "why": why} for v, why in self.variants]}


def bundle_report(where: str, path: Path) -> BundleReport:
    if not (path / MANIFEST).is_file():
        return BundleReport(where, path, False, problem="no manifest.json")
    try:
        bundle = load_bundle(path)
    except AiotwinError as exc:
        return BundleReport(where, path, True, problem=str(exc))
    variants = tuple((v, engine_available(v)) for v in bundle.manifest.variants)
    chosen, problem = None, ""
    try:
        chosen = choose_variant(bundle, None)
    except NoServableVariant as exc:
        problem = str(exc)
    return BundleReport(where, path, True, bundle.manifest.name, bundle.manifest.version, variants, chosen, problem)


def diagnose(extra: Path | None) -> dict[str, Any]:
    """Everything doctor reports, as JSON-ready data."""
    places = [(SERVED_ARCH, default_bundle_dir(SERVED_ARCH)), (FALLBACK_ARCH, default_bundle_dir(FALLBACK_ARCH))]
    if extra is not None:
        places.append(("--bundle", extra))
    bundles = [bundle_report(where, path) for where, path in places]
    backends = availability_table()
    missing = [b for b in INFER_BACKENDS if backends[b]]
    servable = any(b.chosen for b in bundles[:2])
    return {
        "backends": [{"name": n, "missing": m, "install": f"pip install 'aiotwin[{BACKENDS[n].extra}]'" if m else None}
                     for n, m in backends.items()],
        "zeroconf": _version("zeroconf"), "bundles": [b.as_dict() for b in bundles],
        "missing_infer_backends": missing, "servable": servable, "ok": servable and not missing,
    }


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _print_text(report: dict[str, Any]) -> None:
    console = Console()
    backends = Table(title="Backends")
    for column in ("backend", "status", "install"):
        backends.add_column(column)
    for b in report["backends"]:
        backends.add_row(b["name"], f"missing {', '.join(b['missing'])}" if b["missing"] else "ok", b["install"] or "")
    bundles = Table(title="Bundles")
    for column in ("where", "path", "model", "variants runnable", "would serve"):
        bundles.add_column(column)
    for b in report["bundles"]:
        runnable = ", ".join(v["variant"] for v in b["variants"] if v["runnable"]) or "-"
        model = f"{b['name']} v{b['version']}" if b["name"] else b["problem"] or "-"
        bundles.add_row(b["where"], b["path"], model, runnable, b["chosen"] or "-")
    console.print(backends)
    console.print(bundles)
    console.print(f"zeroconf: {report['zeroconf'] or 'missing'}", highlight=False)
    console.print("ok" if report["ok"] else "[red]problems found[/red]", highlight=False)


@app.command()
def doctor(
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Also check this bundle dir.")] = None,
    expect_all: Annotated[bool, typer.Option("--expect-all", help="Exit non-zero if anything is missing.")]
    = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
) -> None:
    """Check inference backends and which bundles and variants this gateway can serve."""

    def body() -> int:
        report = diagnose(bundle)
        if output is OutputFormat.json:
            typer.echo(json.dumps(report, indent=2))
        else:
            _print_text(report)
        return int(ExitCode.GATEWAY_DOCTOR_MISSING) if expect_all and not report["ok"] else 0

    guarded(body)


__all__ = ["INFER_BACKENDS", "BundleReport", "OutputFormat", "bundle_report", "diagnose", "doctor"]
