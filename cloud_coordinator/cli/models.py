"""``aiotwin-coordinator models list|show``: the bundles in the coordinator's model store.

The store (``<work>/models``, :mod:`cloud_coordinator.models`) is opened read-only, so both verbs
work while the coordinator daemon publishes. ``list`` prints one row per published bundle (name,
version, the FL run and global round that made it, holdout accuracy, variants); ``show`` one
bundle's record and manifest, and with ``--verify`` checks every variant file's size and sha256.
Data goes to stdout; nothing here imports flwr or torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cloud_coordinator.cli._app import DEFAULT_WORK_DIR, guarded, models_app
from cloud_coordinator.cli.fl import OutputFormat

_Opt = typer.Option
_WORK = _Opt("--work-dir", "-w", help="The coordinator's work dir.")


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@models_app.command("list")
def models_list(
    work_dir: Annotated[Path, _WORK] = DEFAULT_WORK_DIR,
    name: Annotated[str | None, _Opt("--name", help="Only the versions of this bundle.")] = None,
    output: Annotated[OutputFormat, _Opt("--format", help="Output format.")] = OutputFormat.text,
) -> None:
    """List the published bundles (name, version, run, round, holdout accuracy, variants)."""

    def body() -> int:
        from cloud_coordinator.models.store import INDEX_FILE, ModelStore, store_dir

        root = store_dir(work_dir.resolve())
        records = []
        if (root / INDEX_FILE).is_file():
            with ModelStore.open(root, readonly=True) as store:
                records = [r.to_dict() for r in store.list_models(name)]
        if output is OutputFormat.json:
            _emit(records)
            return 0
        table = Table("name", "version", "run", "round", "base", "accuracy", "variants", "created")
        for r in records:
            table.add_row(r["name"], str(r["version"]), r["run-id"], str(r["global-round"]), r["base-version"],
                          "-" if r["accuracy"] is None else f"{r['accuracy']:.3f}", ", ".join(r["variants"]),
                          _stamp(r["created-at"]))
        Console().print(table)
        return 0

    guarded(body)


def _stamp(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Bundle name, e.g. vehicle-edge.")],
    version: Annotated[int, typer.Argument(help="Bundle version.", min=0)],
    work_dir: Annotated[Path, _WORK] = DEFAULT_WORK_DIR,
    verify: Annotated[bool, _Opt("--verify/--no-verify", help="Check every variant file's size and sha256.")]
    = False,
    output: Annotated[OutputFormat, _Opt("--format", help="Output format.")] = OutputFormat.text,
) -> None:
    """Show one published bundle: its record, manifest and variants (exit 154 if it is not published)."""

    def body() -> int:
        from aiotwin.bundle import load_bundle
        from cloud_coordinator.models.store import ModelStore, checked_bundle, store_dir

        with ModelStore.open(store_dir(work_dir.resolve()), readonly=True) as store:
            record = store.get(name, version)
        bundle = checked_bundle(record.path) if verify else load_bundle(record.path)
        manifest = json.loads(bundle.manifest.to_json())
        if output is OutputFormat.json:
            _emit({**record.to_dict(), "verified": verify, "manifest": manifest})
            return 0
        console = Console()
        for key, value in record.to_dict().items():
            console.print(f"{key}: {value}")
        if verify:
            console.print("verified: every variant's size and sha256 match the manifest")
        table = Table("variant", "file", "size", "sha256", "accuracy", "latency_ms")
        for vid, v in sorted(manifest["variants"].items()):
            table.add_row(vid, v["file"], str(v["size"]), v["sha256"][:16] + "…", _num(v["accuracy"]),
                          _num(v["latency_ms"]))
        console.print(table)
        return 0

    guarded(body)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


__all__ = ["models_list", "models_show"]
