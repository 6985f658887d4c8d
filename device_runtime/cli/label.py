"""``aiotwin-device label import FILE``: labels a person supplies, applied to the sample store.

The file is CSV or JSON Lines (by extension; :mod:`device_runtime.label_import` documents both).
Rows name a stored sample (relabelled, source ``manual``) or an image beside the file (decoded,
privacy-filtered, stored as a ``manual`` sample). All or nothing: a malformed row stops the import
with exit 109 and the store unchanged. It works beside a running node (one short transaction).
stdout carries only the summary.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from device_runtime.cli._app import app, guarded, node_data_dir

if TYPE_CHECKING:
    from device_runtime.config import DeviceConfig
    from device_runtime.label_import import ImportSummary

label_app = typer.Typer(help="Labels a person supplies for the sample store.", no_args_is_help=True)
app.add_typer(label_app, name="label")


class LabelFormat(StrEnum):
    text = "text"
    json = "json"


def _print_text(summary: ImportSummary) -> None:
    typer.echo(f"{summary.file}: relabelled {summary.relabelled}, added {summary.added}, "
               f"rejected {len(summary.rejected)}" + (f", evicted {summary.evicted}" if summary.evicted else ""))
    for line, reason in summary.rejected:
        typer.echo(f"  line {line}: {reason}")


def _run(file: Path, data_dir: Path | None, cfg: DeviceConfig | None) -> ImportSummary:
    from aiotwin.labels import CLASSES
    from device_runtime.config import PrivacyConfig
    from device_runtime.label_import import import_labels, read_label_file
    from device_runtime.pipeline.privacy import PrivacyFilter
    from device_runtime.samples import DEFAULT_MAX_SAMPLES, SAMPLES_FILE, SampleStore

    rows = read_label_file(file, CLASSES)
    where = data_dir if data_dir is not None else (cfg.data_dir if cfg is not None else node_data_dir(None, None))
    privacy = PrivacyFilter(cfg.privacy if cfg is not None else PrivacyConfig())  # no camera: no mask zones
    max_samples = cfg.samples.max_samples if cfg is not None else DEFAULT_MAX_SAMPLES
    with SampleStore(where / SAMPLES_FILE, max_samples=max_samples, guest=True) as store:
        return import_labels(store, rows, base_dir=file.parent, where=str(file), privacy=privacy)


@label_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The label file: .csv rows REF,LABEL or .jsonl objects with id or "
                                         "image, and label. REF: a sample id or an image path relative to FILE.",
                                         show_default=False)],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="The node's data dir (default: the "
                                                  "--demo one).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Take the data dir, the privacy "
                                                "settings and the sample-store bound from this device.toml.")] = None,
    fmt: Annotated[LabelFormat, typer.Option("--format", help="Output format of the summary.")] = LabelFormat.text,
) -> None:
    """Relabel stored samples and add labelled images (CSV or JSON Lines), all or nothing.

    FILE is .csv (rows REF,LABEL) or .jsonl/.ndjson (objects with "id" or "image", and "label"). REF
    is a sample id (see samples --export) or a PNG/JPEG path relative to FILE's folder.
    """

    def body() -> int:
        from device_runtime.config import load_device_config

        cfg = load_device_config(config) if config is not None else None
        summary = _run(file, data_dir, cfg)
        if fmt is LabelFormat.json:
            typer.echo(json.dumps(summary.as_json()))
        else:
            _print_text(summary)
        return 0

    guarded(body)
