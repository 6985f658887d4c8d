"""``aiotwin models build`` and ``aiotwin models info``.

Verb bodies import the training/export code lazily: ``aiotwin --help`` never imports torch.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from aiotwin.bundle import Bundle, default_bundle_dir, load_bundle
from aiotwin.cli._app import guarded, models_app
from aiotwin.clitools import CORE_ERROR_CODES, Guard
from aiotwin.exitcodes import ExitCode
from aiotwin.models.errors import ModelBuildError


class ArchOption(StrEnum):
    edge = "edge"
    cloud = "cloud"
    all = "all"


class Format(StrEnum):
    text = "text"
    json = "json"


def _run(fn: Any) -> None:
    guard = Guard("aiotwin", ((ModelBuildError, ExitCode.MODEL_BUILD_FAILED), *CORE_ERROR_CODES))
    guard.verbose = guarded.verbose
    guard(fn)


@models_app.command("build")
def build(
    *,
    arch: Annotated[ArchOption, typer.Option("--arch", help="Which model size to build.")] = ArchOption.all,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Bundle dir (with --arch all: DIR/<arch>). Default: aiotwin/models/bundles/<arch>.",
    )] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of data, augmentation and initial weights.")] = 0,
    epochs: Annotated[int | None, typer.Option("--epochs", min=0, help="Training epochs (default: recipe).")] = None,
    samples: Annotated[int | None, typer.Option("--samples", min=12, help="Training crops (default: recipe).")] = None,
    version: Annotated[int, typer.Option("--version", min=0, help="Model version in the manifest.")] = 1,
    quick: Annotated[bool, typer.Option("--quick", help="Small data, one epoch: a smoke build.")] = False,
    toy: Annotated[bool, typer.Option("--toy", hidden=True, help="Toy shapes instead of scenes.")] = False,
) -> None:
    """Train and export model bundles (progress on stderr; the bundle dirs on stdout)."""

    def body() -> int:
        from aiotwin.models.build import ARCH_CHOICES, BuildOptions, build_bundle, out_dir

        archs = ARCH_CHOICES if arch is ArchOption.all else (arch.value,)
        for name in archs:
            opts = BuildOptions(name, out, seed, epochs, samples, version, quick, toy)
            bundle = build_bundle(opts, out_dir(opts, several=len(archs) > 1))
            typer.echo(str(bundle.path))
        return 0

    _run(body)


def _summary(bundle: Bundle) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(bundle.manifest.to_json())
    data["path"] = str(bundle.path)
    data["total_size"] = sum(v.size for v in bundle.manifest.variants.values())
    return data


def _text(bundle: Bundle) -> str:
    m = bundle.manifest
    spec = m.input
    lines = [
        f"{m.name} v{m.version}  arch {m.arch}  task {m.task}",
        f"path     {bundle.path}",
        f"input    {spec.height}x{spec.width}x{spec.channels} {spec.color}  "
        f"mean {list(spec.mean)}  std {list(spec.std)}",
        f"labels   {', '.join(m.labels)}",
        f"trained  {m.trained_layers}  params {m.extra.get('params', '?')}",
        f"{'variant':<16}{'file':<28}{'size':>10}  {'dtype':<16}{'layout':<7}{'accuracy':>9}{'p50 ms':>9}",
    ]
    for vid, v in m.variants.items():
        acc = "-" if v.accuracy is None else f"{v.accuracy:.4f}"
        lat = "-" if v.latency_ms is None else f"{v.latency_ms:.3f}"
        lines.append(f"{vid:<16}{v.file:<28}{v.size:>10}  {v.dtype:<16}{v.layout:<7}{acc:>9}{lat:>9}")
    lines.extend(f"skipped  {vid}: {why}" for vid, why in m.extra.get("skipped", {}).items())
    return "\n".join(lines)


@models_app.command("info")
def info(
    path: Annotated[Path | None, typer.Argument(help="Bundle dir (default: the shipped edge bundle).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.text,
) -> None:
    """Print a bundle's manifest summary."""

    def body() -> int:
        bundle = load_bundle(path if path is not None else default_bundle_dir("edge"))
        typer.echo(json.dumps(_summary(bundle), indent=2) if fmt is Format.json else _text(bundle))
        return 0

    _run(body)


__all__ = ["build", "info"]
