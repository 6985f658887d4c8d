"""Labels a person supplies (``aiotwin-device label import FILE``): the file formats and the import.

Two formats, chosen by the file's extension:

- ``.csv``: two fields a row, ``REF,LABEL``; an optional first row ``id,label``, ``image,label``
  or ``ref,label`` is a header. Blank rows are skipped.
- ``.jsonl`` / ``.ndjson`` (JSON Lines): one object a line, ``{"id": ID, "label": LABEL}`` or
  ``{"image": PATH, "label": LABEL}``; no other keys. Blank lines are skipped.

A reference is either a **sample id** (32 lower-case hex digits, as ``aiotwin-device samples
--export`` names the crops): that sample is relabelled and its label source becomes ``manual``; or
an **image**, a ``.png``/``.jpg``/``.jpeg`` path relative to the label file's folder: it is decoded,
sent through the privacy filter and stored as a new ``manual`` sample. Every label must be one of
the model's classes (:data:`aiotwin.labels.CLASSES`).

Parsing (:func:`parse_label_file`) is pure and all-or-nothing: the first malformed row raises
:class:`~device_runtime._exceptions.LabelImportError` naming the file, line and reason. The import
(:func:`import_labels`) decodes every image before it touches the store, then applies everything in
one SQLite transaction. Sample ids no longer in the store (evicted since they were listed) and
images the privacy filter refuses are *rejected* (counted and listed, not errors).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

import numpy as np

from device_runtime._exceptions import LabelImportError
from device_runtime.samples import Image, Sample, SampleStore

if TYPE_CHECKING:
    from device_runtime.pipeline.privacy import PrivacyFilter

LabelFormat = Literal["csv", "jsonl"]
FORMATS: dict[str, LabelFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SAMPLE_ID = re.compile(r"[0-9a-f]{32}")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CSV_HEADER_REFS = ("id", "image", "ref")
MAX_ROWS = 50_000  # every image is decoded in memory before the one transaction
IMPORT_CAMERA = "import"  # camera id of imported images
IMPORT_TRACK = -1  # no track
MANUAL_CONFIDENCE = 1.0  # a person's label
NO_MODEL = 0  # model version of a label no model made


@dataclass(frozen=True)
class LabelRow:
    """One row of a label file: a sample id *or* an image path, and its label."""

    line: int
    label: str
    sample_id: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class ImportSummary:
    """What an import did; ``rejected`` lists ``(line, reason)`` of the rows not applied."""

    file: str
    relabelled: int = 0
    added: int = 0
    evicted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "relabelled": self.relabelled, "added": self.added, "evicted": self.evicted,
                "rejected": len(self.rejected),
                "rejected_rows": [{"line": line, "reason": why} for line, why in self.rejected]}


def label_format(path: Path) -> LabelFormat:
    """The format of ``path`` by its extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LabelImportError(f"{path}: unknown label file type {path.suffix!r}; use .csv, .jsonl or .ndjson")
    return fmt


def _row(where: str, line: int, ref: str, label: str, labels: Sequence[str], *, key: str = "") -> LabelRow:
    def bad(reason: str) -> LabelImportError:
        return LabelImportError(f"{where}:{line}: {reason}")

    if label not in labels:
        raise bad(f"label {label!r} is not one of the model's labels ({', '.join(labels)})")
    if key != "image" and SAMPLE_ID.fullmatch(ref):
        return LabelRow(line, label, sample_id=ref)
    if key == "id":
        raise bad(f"{ref!r} is not a sample id (32 hex digits)")
    if not ref.lower().endswith(IMAGE_SUFFIXES):
        raise bad(f"{ref!r} is neither a sample id (32 hex digits) nor a .png/.jpg/.jpeg image path")
    if PurePosixPath(ref).is_absolute() or "\\" in ref:
        raise bad(f"image path {ref!r} must be relative to the label file's folder (with '/')")
    return LabelRow(line, label, image=ref)


def _csv_rows(text: str, where: str, labels: Sequence[str]) -> list[LabelRow]:
    out: list[LabelRow] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != 2:
                raise LabelImportError(f"{where}:{line}: expected 2 fields (ref,label), got {len(fields)}")
            ref, label = (f.strip() for f in fields)
            if not out and ref.lower() in CSV_HEADER_REFS and label.lower() == "label":
                continue
            out.append(_row(where, line, ref, label, labels))
    except csv.Error as exc:
        raise LabelImportError(f"{where}:{reader.line_num}: not valid CSV: {exc}") from exc
    return out


def _json_row(where: str, line: int, text: str, labels: Sequence[str]) -> LabelRow:
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise LabelImportError(f"{where}:{line}: not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise LabelImportError(f"{where}:{line}: expected a JSON object")
    refs = [k for k in ("id", "image") if k in obj]
    unknown = sorted(set(obj) - {"id", "image", "label"})
    if unknown or len(refs) != 1 or "label" not in obj:
        raise LabelImportError(f"{where}:{line}: expected {{\"label\": ..., and exactly one of \"id\" or "
                               f"\"image\"}}" + (f"; unknown keys {unknown}" if unknown else ""))
    ref, label = obj[refs[0]], obj.get("label")
    if not isinstance(ref, str) or not isinstance(label, str):
        raise LabelImportError(f"{where}:{line}: \"{refs[0]}\" and \"label\" must be strings")
    return _row(where, line, ref, label, labels, key=refs[0])


def _jsonl_rows(text: str, where: str, labels: Sequence[str]) -> list[LabelRow]:
    return [_json_row(where, n, raw, labels) for n, raw in enumerate(text.splitlines(), start=1) if raw.strip()]


def parse_label_file(text: str, fmt: LabelFormat, *, where: str, labels: Sequence[str]) -> list[LabelRow]:
    """Every row of a label file, or :class:`LabelImportError` (``where:line: reason``) at the first bad one."""
    rows = _csv_rows(text, where, labels) if fmt == "csv" else _jsonl_rows(text, where, labels)
    if len(rows) > MAX_ROWS:
        raise LabelImportError(f"{where}: {len(rows)} rows; import at most {MAX_ROWS} at a time")
    seen: dict[str, int] = {}
    for row in rows:
        key = row.sample_id or f"image:{row.image}"
        if key in seen:
            raise LabelImportError(f"{where}:{row.line}: {key.removeprefix('image:')} is already on line {seen[key]}")
        seen[key] = row.line
    return rows


def read_label_file(path: Path, labels: Sequence[str]) -> list[LabelRow]:
    """:func:`parse_label_file` of the file at ``path`` (format by extension)."""
    fmt = label_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets write a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelImportError(f"{path}: cannot read the label file: {exc}") from exc
    return parse_label_file(text, fmt, where=str(path), labels=labels)


def _decode(path: Path, where: str, row: LabelRow) -> Image:
    import cv2

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelImportError(f"{where}:{row.line}: cannot read image {row.image}: {exc.strerror or exc}") from exc
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise LabelImportError(f"{where}:{row.line}: image {row.image} does not decode as PNG/JPEG")
    return np.ascontiguousarray(image, dtype=np.uint8)


def import_labels(store: SampleStore, rows: Sequence[LabelRow], *, base_dir: Path, where: str,
                  privacy: PrivacyFilter) -> ImportSummary:
    """Decode and filter every image of ``rows`` (relative to ``base_dir``), then apply all in one transaction."""
    rejected: list[tuple[int, str]] = []
    adds: list[tuple[Image, Sample]] = []
    for row in rows:
        if row.image is None:
            continue
        released = privacy.release(_decode(base_dir / row.image, where, row))
        if released is None:
            rejected.append((row.line, f"the privacy filter refused image {row.image}"))
            continue
        adds.append((released, Sample(IMPORT_CAMERA, IMPORT_TRACK, row.label, "manual", MANUAL_CONFIDENCE,
                                      "manual-import", NO_MODEL)))
    relabel = {row.sample_id: row.label for row in rows if row.sample_id is not None}
    changes = store.apply_labels(relabel, adds)
    line_of = {row.sample_id: row.line for row in rows if row.sample_id is not None}
    rejected += [(line_of[sid], f"no sample {sid} in the store (evicted?)") for sid in changes.missing]
    return ImportSummary(where, len(changes.relabelled), len(changes.added), changes.evicted,
                         sorted(rejected))


__all__ = [
    "FORMATS", "IMAGE_SUFFIXES", "MAX_ROWS", "SAMPLE_ID", "ImportSummary", "LabelFormat", "LabelRow",
    "import_labels", "label_format", "parse_label_file", "read_label_file",
]
