"""``aiotwin-device events``: a real CLI process over a real outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from aiotwin.exitcodes import ExitCode
from aiotwin.wire import CountEvent, DriftEvent, HealthEvent, encode_event
from device_runtime.outbox import OUTBOX_FILE, Outbox

_CLI = [sys.executable, "-c", "from device_runtime.cli import main; main()", "events"]


def events_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_CLI, *args], capture_output=True, text=True, timeout=60, check=False)


def _events(n: int) -> list[CountEvent | HealthEvent]:
    out: list[CountEvent | HealthEvent] = [
        CountEvent(camera_id="north", line_id="l0", direction="in" if i % 2 else "out", cls="car",
                   confidence=0.8, track_id=i, model="edge", model_version=2, variant="onnx-int8")
        for i in range(n)
    ]
    out.append(HealthEvent(camera_id="north", condition="source_lost", active=True, detail="rtsp timeout"))
    return out


@pytest.fixture
def filled(tmp_path):
    events = _events(5)
    with Outbox.open(tmp_path / OUTBOX_FILE) as ob:
        ob.put(events)
    return tmp_path, events


def test_json_lists_wire_encoded_events_oldest_first(filled) -> None:
    data_dir, events = filled
    proc = events_cli("--data-dir", str(data_dir), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [json.loads(encode_event(e)) for e in events]


def test_limit(filled) -> None:
    data_dir, events = filled
    proc = events_cli("--data-dir", str(data_dir), "--format", "json", "--limit", "2")
    assert [e["id"] for e in json.loads(proc.stdout)] == [e.id for e in events[:2]]


def test_text_table_on_stdout_only(filled) -> None:
    data_dir, events = filled
    proc = events_cli("--data-dir", str(data_dir))
    assert proc.returncode == 0
    assert "6 event(s)" in proc.stdout
    assert "source_lost" in proc.stdout
    assert events[0].id[:12] in proc.stdout
    assert "error" not in proc.stderr


def test_data_dir_from_config(filled, tmp_path) -> None:
    data_dir, events = filled
    cfg = tmp_path / "device.toml"
    cfg.write_text(f'data-dir = "{data_dir}"\n')
    proc = events_cli("--config", str(cfg), "--format", "json")
    assert len(json.loads(proc.stdout)) == len(events)


def test_works_while_a_writer_holds_the_outbox(filled) -> None:
    data_dir, events = filled
    with Outbox.open(data_dir / OUTBOX_FILE) as writer:
        writer.put(_events(1))
        proc = events_cli("--data-dir", str(data_dir), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == len(events) + 2


def test_missing_outbox_is_a_clear_error(tmp_path) -> None:
    proc = events_cli("--data-dir", str(tmp_path / "nowhere"), "--format", "json")
    assert proc.returncode == ExitCode.DEVICE_OUTBOX_ERROR
    assert proc.stdout == ""
    assert "no outbox database" in proc.stderr


def test_corrupt_outbox_is_a_clear_error(tmp_path) -> None:
    (tmp_path / OUTBOX_FILE).write_bytes(b"\x00garbage" * 512)
    proc = events_cli("--data-dir", str(tmp_path))
    assert proc.returncode == ExitCode.DEVICE_OUTBOX_ERROR
    assert "corrupt or not an SQLite database" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_drift_events_in_the_table_and_json(tmp_path) -> None:
    drift = DriftEvent(camera_id="north", model_version=4, distribution="confidence", divergence=0.31,
                       class_divergence=0.02, confidence_divergence=0.31, metric="psi", threshold=0.25,
                       reference_size=1000, window_size=500)
    with Outbox.open(tmp_path / OUTBOX_FILE) as ob:
        ob.put([drift])
    proc = subprocess.run([*_CLI, "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "confidence moved (psi 0.310, model v4)" in proc.stdout
    proc = events_cli("--data-dir", str(tmp_path), "--format", "json")
    assert json.loads(proc.stdout) == [json.loads(encode_event(drift))]
