"""``aiotwin-device bench``: the JSON report, pinning (pure choice + the CLI in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiotwin.bundle import default_bundle_dir, load_bundle
from device_runtime._exceptions import NoVariantError
from device_runtime.cli.bench import VariantResult, choose_pin

REPORT_KEYS = {"bundle", "host", "threads", "iterations", "throughput_batch", "holdout", "ts", "variants", "pinned"}
VARIANT_KEYS = {"variant", "status", "reason", "provider", "p50_ms", "p99_ms", "throughput_cps", "accuracy",
                "reference"}


def r(variant, p50, acc, status="ok", reference=False):
    return VariantResult(variant, status, p50_ms=p50, accuracy=acc, reference=reference)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([r("onnx-fp32", 0.4, 0.90), r("onnx-int8", 0.3, 0.89), r("tflite-int8", 0.2, 0.886)], "tflite-int8"),
        ([r("onnx-fp32", 0.4, 0.90), r("onnx-int8", 0.3, 0.889), r("tflite-int8", 0.2, 0.884)], "onnx-int8"),
        ([r("onnx-fp32", 0.4, 0.90), r("tflite-int8", 0.1, None)], "onnx-fp32"),
        ([r("onnx-fp32", 0.4, 0.90), r("tflite-int8", 0.1, 0.95, status="failed")], "onnx-fp32"),
        ([r("onnx-fp32", 0.4, 0.90), r("torch-fp32", 0.1, 0.90, reference=True)], "onnx-fp32"),
        ([r("onnx-fp32", 0.4, 0.90), r("onnx-int8", 0.5, 0.92)], "onnx-fp32"),
    ],
    ids=["within", "one-out", "no-accuracy", "failed", "reference", "slower"],
)
def test_choose_pin(results, expected):
    assert choose_pin(results).variant == expected


def test_choose_pin_needs_fp32():
    with pytest.raises(NoVariantError, match="onnx-fp32"):
        choose_pin([r("onnx-int8", 0.3, 0.9)])


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from device_runtime.cli import main; main()", "bench", *args],
        capture_output=True, text=True, timeout=240, check=False,
    )


@pytest.fixture
def shipped():
    path = default_bundle_dir("edge")
    if not (path / "manifest.json").is_file():
        pytest.skip("the shipped bundle aiotwin/models/bundles/edge is not built yet")
    return load_bundle(path)


def test_bench_json_and_pin(shipped, tmp_path: Path):
    out = _bench("--bundle", str(shipped.path), "--data-dir", str(tmp_path), "--iterations", "5",
                 "--holdout-size", "24", "--format", "json", "--pin")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report) == REPORT_KEYS
    assert {v["variant"] for v in report["variants"]} == set(shipped.manifest.variants)
    for v in report["variants"]:
        assert set(v) == VARIANT_KEYS
        if v["status"] == "ok":
            assert v["p50_ms"] > 0 and v["p99_ms"] >= v["p50_ms"] and v["throughput_cps"] > 0
    pinned = json.loads((tmp_path / "pinned-variant").read_text())
    assert pinned["variant"] == report["pinned"]
    assert pinned["variant"] in shipped.manifest.variants
    assert not (tmp_path / "bench.json").exists()  # --format json: stdout only


def test_bench_table_writes_json_file(shipped, tmp_path: Path):
    out = _bench("--bundle", str(shipped.path), "--data-dir", str(tmp_path), "--iterations", "3",
                 "--holdout-size", "0")
    assert out.returncode == 0, out.stderr
    assert "p50 ms" in out.stdout
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["holdout"]["size"] == 0
    assert all(v["accuracy"] is None for v in report["variants"])
    assert not (tmp_path / "pinned-variant").exists()


def test_bench_pin_without_holdout_fails_with_no_variant_code(shipped, tmp_path: Path):
    from aiotwin.exitcodes import ExitCode

    out = _bench("--bundle", str(shipped.path), "--data-dir", str(tmp_path), "--iterations", "2",
                 "--holdout-size", "0", "--pin", "--format", "json")
    assert out.returncode == ExitCode.DEVICE_NO_VARIANT, out.stderr
    assert "cannot pin" in out.stderr


def test_bench_missing_bundle_is_bundle_error(tmp_path: Path):
    from aiotwin.exitcodes import ExitCode

    out = _bench("--bundle", str(tmp_path / "nope"), "--data-dir", str(tmp_path))
    assert out.returncode == ExitCode.DEVICE_BUNDLE_INVALID, out.stderr
