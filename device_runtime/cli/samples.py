"""``aiotwin-device samples``: what the sample store holds, per label and label source; export the crops.

``--format json`` prints one object (``total``, ``by_label``, ``by_source`` and ``counts``: a list of
``{"label", "source", "count"}``, unlabelled rows with ``"label": null``); ``text`` prints a table.
``--export DIR`` also writes every crop as ``DIR/<id>.png`` and an index ``DIR/samples.csv`` (id,
label, label source, confidence, camera, track, model version): the ids a person relabels with
``aiotwin-device label import``. The store is opened read-only, so this works while the node runs.
"""

from __future__ import annotations

import csv
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from device_runtime.cli._app import app, guarded, node_data_dir

if TYPE_CHECKING:
    from device_runtime.samples import SampleStore

UNLABELLED = "(unlabelled)"
INDEX_FILE = "samples.csv"


class SamplesFormat(StrEnum):
    text = "text"
    json = "json"


class Source(StrEnum):
    edge = "edge"
    offload = "offload"
    pseudo = "pseudo"
    manual = "manual"


def _summary(counts: list[tuple[str | None, str, int]]) -> dict[str, Any]:
    by_label: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for label, source, n in counts:
        by_label[label or UNLABELLED] = by_label.get(label or UNLABELLED, 0) + n
        by_source[source] = by_source.get(source, 0) + n
    return {"total": sum(n for *_, n in counts), "by_label": by_label, "by_source": by_source,
            "counts": [{"label": label, "source": source, "count": n} for label, source, n in counts]}


def _print_table(summary: dict[str, Any], where: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from device_runtime.samples import LABEL_SOURCES

    table = Table(title=f"{summary['total']} sample(s) in {where}")
    for col in ("label", *LABEL_SOURCES, "total"):
        table.add_column(col, justify="left" if col == "label" else "right")
    cells: dict[tuple[str, str], int] = {(c["label"] or UNLABELLED, c["source"]): c["count"]
                                         for c in summary["counts"]}
    for label, n in summary["by_label"].items():
        table.add_row(label, *(str(cells.get((label, s), 0)) for s in LABEL_SOURCES), str(n))
    Console().print(table)


def _export(store: SampleStore, out: Path, source: Source | None) -> int:
    from device_runtime._exceptions import DataDirError

    entries = store.entries(source.value if source is not None else None)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_export(out, entries)
    except OSError as exc:
        raise DataDirError(f"cannot export samples to {out}: {exc}") from exc
    return len(entries)


def _write_export(out: Path, entries: list[tuple[str, Any, bytes]]) -> None:
    with (out / INDEX_FILE).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "label_source", "confidence", "camera_id", "track_id", "model_version"])
        for sid, s, png in entries:
            (out / f"{sid}.png").write_bytes(png)
            writer.writerow([sid, s.label or "", s.label_source, f"{s.confidence:.4f}", s.camera_id, s.track_id,
                             s.model_version])


@app.command()
def samples(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="The node's data dir (default: the "
                                                  "--demo one).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Take the data dir from this "
                                                "device.toml.")] = None,
    fmt: Annotated[SamplesFormat, typer.Option("--format", help="Output format.")] = SamplesFormat.text,
    export: Annotated[Path | None, typer.Option("--export", help="Also write every crop as DIR/<id>.png and an "
                                                "index DIR/samples.csv.", metavar="DIR")] = None,
    source: Annotated[Source | None, typer.Option("--source", help="Export only samples of this label "
                                                  "source.")] = None,
) -> None:
    """List the sample store's counts per label and label source; optionally export the crops."""

    def body() -> int:
        from device_runtime.samples import SAMPLES_FILE, SampleStore

        where = node_data_dir(data_dir, config)
        with SampleStore(where / SAMPLES_FILE, readonly=True) as store:
            summary = _summary(store.counts())
            exported = _export(store, export, source) if export is not None else None
        if fmt is SamplesFormat.json:
            typer.echo(json.dumps(summary))
        else:
            _print_table(summary, where)
        if export is not None:
            typer.echo(f"exported {exported} crop(s) to {export} (index: {export / INDEX_FILE})", err=True)
        return 0

    guarded(body)
