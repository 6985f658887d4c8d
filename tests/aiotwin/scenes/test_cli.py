from __future__ import annotations

import json
import subprocess
import sys

import cv2

CLI = "from aiotwin.cli import main; main()"


def _aiotwin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, timeout=180,
                          check=False)


def test_render_writes_readable_video_and_truth(tmp_path):
    out, truth = tmp_path / "v.mp4", tmp_path / "t.json"
    res = _aiotwin("scenes", "render", "--seed", "2", "--camera", "campus", "--frames", "12", "--out", str(out),
                   "--truth", str(truth), "--lighting", "dusk", "--no-progress")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip())
    assert summary["frames"] == 12
    cap = cv2.VideoCapture(str(out))
    try:
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
        ok, frame = cap.read()
        assert ok
        assert frame.shape == (720, 1280, 3)
    finally:
        cap.release()
    doc = json.loads(truth.read_text())
    assert set(doc) == {"frames", "camera", "seed", "fps", "resolution", "line", "lighting", "weather", "counts",
                        "crossings"}
    assert (doc["frames"], doc["camera"], doc["seed"], doc["lighting"]) == (12, "campus", 2, "dusk")
    assert set(doc["line"]) == {"id", "x1", "y1", "x2", "y2"}
    assert set(doc["counts"]) == {"car", "bus", "truck", "motorcycle", "bicycle", "pedestrian"}


def test_bad_camera_exits_10_with_one_line(tmp_path):
    res = _aiotwin("scenes", "render", "--camera", "nowhere", "--out", str(tmp_path / "v.mp4"))
    assert res.returncode == 10
    assert len(res.stderr.strip().splitlines()) == 1
    assert "unknown camera" in res.stderr
    assert res.stdout == ""


def test_ls_json_lists_cameras():
    res = _aiotwin("scenes", "ls", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) >= 8
    assert {"name", "mix", "lighting", "weather", "resolution", "fps"} <= set(rows[0])
