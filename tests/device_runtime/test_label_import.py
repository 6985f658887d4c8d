"""``aiotwin-device label import`` and ``aiotwin-device samples``: the row parser (with properties), the
all-or-nothing import, and the real CLI over a real sample store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin.exitcodes import ExitCode
from aiotwin.labels import CLASSES
from device_runtime._exceptions import LabelImportError
from device_runtime.config import PrivacyConfig
from device_runtime.label_import import LabelRow, import_labels, label_format, parse_label_file
from device_runtime.pipeline.privacy import PrivacyFilter
from device_runtime.samples import SAMPLES_FILE, Sample, SampleStore

_CLI = [sys.executable, "-c", "from device_runtime.cli import main; main()"]
SID = "0123456789abcdef0123456789abcdef"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_CLI, *args], capture_output=True, text=True, timeout=120, check=False)


def parse(text: str, fmt: str = "csv") -> list[LabelRow]:
    return parse_label_file(text, fmt, where="labels." + fmt, labels=CLASSES)  # type: ignore[arg-type]


# -- the parser -----------------------------------------------------------------------------------

def test_csv_rows_with_and_without_header() -> None:
    rows = parse(f"id,label\n{SID},bus\n\ncrops/a b.png , truck\n")
    assert rows == [LabelRow(2, "bus", sample_id=SID), LabelRow(4, "truck", image="crops/a b.png")]
    assert parse(f"{SID},car\n") == [LabelRow(1, "car", sample_id=SID)]


def test_jsonl_rows() -> None:
    text = json.dumps({"id": SID, "label": "bus"}) + "\n\n" + json.dumps({"image": "x.JPG", "label": "car"})
    assert parse(text, "jsonl") == [LabelRow(1, "bus", sample_id=SID), LabelRow(3, "car", image="x.JPG")]


@pytest.mark.parametrize(("text", "fmt", "line", "reason"), [
    (f"{SID},tractor\n", "csv", 1, "not one of the model's labels"),
    (f"id,label\n{SID},car,extra\n", "csv", 2, "expected 2 fields"),
    ("a.gif,car\n", "csv", 1, "neither a sample id"),
    ("/etc/a.png,car\n", "csv", 1, "must be relative"),
    (f"{SID},car\n{SID},bus\n", "csv", 2, "already on line 1"),
    ('"a.png,car\n', "csv", 1, "not valid CSV"),
    ('{"id": "a.png", "label": "car"}\n', "jsonl", 1, "not a sample id"),
    (f'{{"id": "{SID}", "image": "a.png", "label": "car"}}\n', "jsonl", 1, "exactly one of"),
    (f'{{"id": "{SID}", "label": "car", "who": "me"}}\n', "jsonl", 1, "unknown keys ['who']"),
    (f'{{"id": "{SID}"}}\n', "jsonl", 1, "exactly one of"),
    ('\n[1, 2]\n', "jsonl", 2, "expected a JSON object"),
    ('{"image": 5, "label": "car"}\n', "jsonl", 1, "must be strings"),
    ("{nope\n", "jsonl", 1, "not valid JSON"),
])
def test_malformed_rows_name_file_line_and_reason(text: str, fmt: str, line: int, reason: str) -> None:
    with pytest.raises(LabelImportError) as err:
        parse(text, fmt)
    assert str(err.value).startswith(f"labels.{fmt}:{line}: ") and reason in str(err.value)


def test_format_by_extension(tmp_path) -> None:
    assert label_format(Path("a.CSV")) == "csv" and label_format(Path("a.ndjson")) == "jsonl"
    with pytest.raises(LabelImportError, match=r"unknown label file type '\.txt'"):
        label_format(Path("a.txt"))


_NAME = st.text(st.sampled_from("abcXYZ019 ,\"'._-é"), min_size=1, max_size=12).filter(lambda s: s.strip() == s)
_REF = st.one_of(
    st.text("0123456789abcdef", min_size=32, max_size=32).map(lambda s: ("id", s)),
    st.tuples(st.lists(_NAME, min_size=1, max_size=3), st.sampled_from([".png", ".jpg", ".jpeg", ".PNG"]))
      .map(lambda t: ("image", "/".join(t[0]) + t[1])),
)
_ROWS = st.lists(st.tuples(_REF, st.sampled_from(CLASSES)), max_size=20, unique_by=lambda r: r[0][1])


def _as_csv(rows: list[tuple[tuple[str, str], str]], header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(["ref", "label"])
    writer.writerows([ref, label] for (_, ref), label in rows)
    return out.getvalue()


def _as_jsonl(rows: list[tuple[tuple[str, str], str]]) -> str:
    return "".join(json.dumps({kind: ref, "label": label}) + "\n" for (kind, ref), label in rows)


@given(_ROWS, st.booleans())
def test_property_written_rows_parse_back(rows, header) -> None:
    expected = [(kind, ref, label) for (kind, ref), label in rows]
    for fmt, text, first in (("csv", _as_csv(rows, header), 1 + header), ("jsonl", _as_jsonl(rows), 1)):
        parsed = parse(text, fmt)
        assert [("id" if r.sample_id else "image", r.sample_id or r.image, r.label) for r in parsed] == expected
        assert [r.line for r in parsed] == list(range(first, first + len(rows)))


@given(st.text(max_size=200), st.sampled_from(["csv", "jsonl"]))
def test_property_any_text_parses_or_is_a_label_import_error(text, fmt) -> None:
    try:
        rows = parse(text, fmt)
    except LabelImportError as exc:
        error = str(exc)
    else:
        error = ""
        assert all(r.label in CLASSES and (r.sample_id is None) != (r.image is None) for r in rows)
    assert error == "" or error.startswith(f"labels.{fmt}:")


# -- the import -----------------------------------------------------------------------------------

def _crop(value: int) -> np.ndarray:
    return np.full((24, 32, 3), value, np.uint8)


class NoFaces:
    def faces(self, grey):
        return []

    def plates(self, grey):
        return []


def _store_with(path: Path, n: int) -> list[str]:
    with SampleStore(path) as store:
        return [store.add(_crop(10 * i), Sample("cam", i, "car", "edge", 0.4, "no-estimate", 2)) for i in range(n)]


def _write_png(path: Path, value: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), _crop(value))


def test_import_relabels_adds_through_the_privacy_filter_and_rejects_missing_ids(tmp_path) -> None:
    ids = _store_with(tmp_path / SAMPLES_FILE, 2)
    _write_png(tmp_path / "in" / "crops" / "a.png", 200)
    rows = parse(f"{ids[0]},bus\ncrops/a.png,bicycle\n{SID},car\n")
    privacy = PrivacyFilter(PrivacyConfig(), detector=NoFaces())
    with SampleStore(tmp_path / SAMPLES_FILE, guest=True) as store:
        summary = import_labels(store, rows, base_dir=tmp_path / "in", where="l.csv", privacy=privacy)
        got = [(s.label, s.label_source, s.camera_id) for s, _ in store.rows()]
        added = store.rows("manual")[-1][1]
    assert (summary.relabelled, summary.added, summary.rejected) == (1, 1, [(3, f"no sample {SID} in the store "
                                                                            "(evicted?)")])
    assert got == [("bus", "manual", "cam"), ("car", "edge", "cam"), ("bicycle", "manual", "import")]
    np.testing.assert_array_equal(added, _crop(200))
    assert privacy.stats.released == 1


def test_an_image_that_does_not_decode_stops_the_whole_import(tmp_path) -> None:
    ids = _store_with(tmp_path / SAMPLES_FILE, 1)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    rows = parse(f"{ids[0]},bus\nbad.png,car\n")
    with SampleStore(tmp_path / SAMPLES_FILE, guest=True) as store:
        with pytest.raises(LabelImportError, match=r"l.csv:2: image bad.png does not decode"):
            import_labels(store, rows, base_dir=tmp_path, where="l.csv", privacy=PrivacyFilter(PrivacyConfig()))
        assert [s.label for s, _ in store.rows()] == ["car"]  # the relabel of line 1 did not happen either


# -- the CLI --------------------------------------------------------------------------------------

def test_cli_import_beside_a_running_writer_then_samples_lists_and_exports(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ids = _store_with(data / SAMPLES_FILE, 3)
    labels = tmp_path / "labels"
    _write_png(labels / "new.png", 77)
    (labels / "l.jsonl").write_text(json.dumps({"id": ids[1], "label": "truck"}) + "\n"
                                    + json.dumps({"image": "new.png", "label": "pedestrian"}) + "\n")
    with SampleStore(data / SAMPLES_FILE):  # the daemon holds the writer lock
        proc = cli("label", "import", str(labels / "l.jsonl"), "--data-dir", str(data), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"file": str(labels / "l.jsonl"), "relabelled": 1, "added": 1, "evicted": 0,
                                       "rejected": 0, "rejected_rows": []}

    proc = cli("samples", "--data-dir", str(data), "--format", "json", "--export", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["total"] == 4
    assert listing["by_label"] == {"car": 2, "pedestrian": 1, "truck": 1}
    assert listing["by_source"] == {"edge": 2, "manual": 2}
    assert {"label": "truck", "source": "manual", "count": 1} in listing["counts"]
    index = list(csv.DictReader(io.StringIO((tmp_path / "out" / "samples.csv").read_text())))
    assert [r["id"] for r in index[:3]] == ids and (tmp_path / "out" / f"{ids[0]}.png").is_file()
    assert "exported 4 crop(s)" in proc.stderr

    proc = cli("samples", "--data-dir", str(data))
    assert proc.returncode == 0 and "4 sample(s)" in proc.stdout and "pedestrian" in proc.stdout


def test_cli_malformed_file_exits_109_and_changes_nothing(tmp_path) -> None:
    ids = _store_with(tmp_path / SAMPLES_FILE, 1)
    bad = tmp_path / "l.csv"
    bad.write_text(f"id,label\n{ids[0]},bus\n{SID},lorry\n")
    proc = cli("label", "import", str(bad), "--data-dir", str(tmp_path))
    assert proc.returncode == ExitCode.DEVICE_LABELS_INVALID
    assert f"{bad}:3: label 'lorry' is not one of the model's labels" in proc.stderr and proc.stdout == ""
    with SampleStore(tmp_path / SAMPLES_FILE, readonly=True) as store:
        assert [s.label for s, _ in store.rows()] == ["car"]


def test_cli_samples_without_a_store_is_a_data_dir_error(tmp_path) -> None:
    proc = cli("samples", "--data-dir", str(tmp_path))
    assert proc.returncode == ExitCode.DEVICE_DATA_DIR_INVALID and "no sample store" in proc.stderr
