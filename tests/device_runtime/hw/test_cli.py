"""``aiotwin-device detect`` / ``doctor``: in a subprocess (real entry point) and in-process (typer runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from aiotwin.exitcodes import ExitCode
from device_runtime import hw
from tests.device_runtime.hw.conftest import FIXTURES

# typer re-exports click.utils helpers that this Click deprecates; warnings are errors in this suite.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"'click\.\S+' is deprecated", DeprecationWarning)
    from typer.testing import CliRunner

    from device_runtime.cli import app

ENTRY = "from device_runtime.cli import main; main()"
DETECT_KEYS = {"profile", "fallback", "arch", "cpu_cores", "mem_total_mb", "accelerators", "preferred", "variant",
               "rejected", "model", "compatible", "l4t", "jetpack", "usb_ids", "bundle", "runtimes", "notes"}
FAKE_RUNTIME = hw.RuntimeInfo(onnxruntime_version="1.32.0", ort_providers=("CPUExecutionProvider",),
                              tflite_module="ai_edge_litert", edgetpu_delegate=False,
                              edgetpu_delegate_error="libedgetpu.so.1: cannot open shared object file")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AIOTWIN_")}
    return subprocess.run([sys.executable, "-c", ENTRY, *args], capture_output=True, text=True, timeout=120,
                          check=False, env={**environ, **(env or {})})


def test_detect_json_for_rpi5_with_coral_usb():
    proc = cli("detect", "--root", str(FIXTURES / "rpi5-coral-usb"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= DETECT_KEYS
    assert (data["profile"], data["fallback"], data["arch"], data["cpu_cores"]) == ("rpi5", False, "aarch64", 4)
    assert data["accelerators"][0] == {"kind": "edgetpu", "interface": "usb", "count": 1,
                                       "detail": "Coral USB Accelerator (firmware not loaded yet)"}
    assert data["accelerators"][-1]["kind"] == "cpu"
    assert data["preferred"][:2] == ["tflite-edgetpu", "tflite-int8"]
    assert "1a6e:089a" in data["usb_ids"]
    assert all(set(r) == {"variant", "reason"} and r["reason"] for r in data["rejected"])
    assert "tflite-edgetpu" in {r["variant"] for r in data["rejected"]}
    assert data["variant"] is None or data["variant"] in data["preferred"]


def test_detect_root_that_is_a_file_is_one_clear_line_and_exit_100(tmp_path: Path):
    afile = tmp_path / "not-a-root"
    afile.write_text("x")
    proc = cli("detect", "--root", str(afile), "--format", "json")
    assert proc.returncode == 100
    assert ExitCode.DEVICE_HW_ROOT_INVALID.value == 100
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"error: hardware root {afile} is not a directory"
    assert "Traceback" not in proc.stderr


def test_detect_bad_override_is_a_config_error():
    proc = cli("detect", "--root", str(FIXTURES / "x86-64"), env={"AIOTWIN_VARIANT": "fastest"})
    assert proc.returncode == ExitCode.CONFIG_INVALID
    assert "AIOTWIN_VARIANT: unknown variant 'fastest'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_doctor_json_in_a_subprocess():
    proc = cli("doctor", "--root", str(FIXTURES / "jetson-orin-nano"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["profile"] == "jetson-orin-nano"
    assert {b["name"] for b in data["backends"]} >= {"onnxruntime", "litert"}
    cuda = data["accelerators"][0]
    assert (cuda["kind"], cuda["status"]) == ("cuda", "unverified")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """In-process runs with a fixed RuntimeInfo (no heavy imports) and a clean environment."""
    monkeypatch.setattr(hw, "probe_runtimes", lambda **_: FAKE_RUNTIME)
    for name in ("AIOTWIN_VARIANT", "AIOTWIN_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_detect_every_fixture_in_json(runner: CliRunner, board: str, board_root: Path):
    result = invoke(runner, "detect", "--root", str(board_root), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) >= DETECT_KEYS
    kinds = [a["kind"] for a in data["accelerators"]]
    assert kinds[-1] == "cpu" and set(kinds) <= {"cuda", "edgetpu", "cpu"}
    assert all(a["interface"] in ("usb", "pcie", "soc") for a in data["accelerators"][:-1])


def test_detect_text_is_a_table(runner: CliRunner):
    result = invoke(runner, "detect", "--root", str(FIXTURES / "jetson-nano"))
    assert result.exit_code == 0
    for text in ("Hardware", "jetson-nano", "32.7.1 / 4.6", "Accelerators", "cuda", "onnx-fp16", "rejected"):
        assert text in result.stdout


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"proc/cpuinfo/x": b""}, "proc/cpuinfo is a directory"),
        ({}, "proc/cpuinfo is missing"),
    ],
    ids=["dir-for-file", "empty-tree"],
)
def test_detect_unusable_tree_exits_100(runner: CliRunner, tmp_path: Path, files: dict[str, bytes], message: str):
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    result = invoke(runner, "detect", "--root", str(tmp_path))
    assert result.exit_code == 100
    assert message in result.stderr


def test_detect_with_an_explicit_bundle(runner: CliRunner, tmp_path: Path):
    manifest = {
        "format": 1, "name": "vehicle-edge", "version": 1, "task": "t", "arch": "edge", "labels": ["car"],
        "input": {"height": 64, "width": 64},
        "variants": {"onnx-fp32": {"file": "model.fp32.onnx", "sha256": "0" * 64, "size": 1, "layout": "nchw",
                                   "dtype": "float32"}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    result = invoke(runner, "detect", "--root", str(FIXTURES / "x86-64"), "--format", "json", "--bundle",
                    str(tmp_path))
    data = json.loads(result.stdout)
    assert (data["variant"], data["bundle"]["found"]) == ("onnx-fp32", True)
    assert {"variant": "onnx-int8", "reason": "bundle has no onnx-int8 variant"} in data["rejected"]
    missing = invoke(runner, "detect", "--root", str(FIXTURES / "x86-64"), "--bundle", str(tmp_path / "nope"))
    assert missing.exit_code == ExitCode.DEVICE_BUNDLE_INVALID


def test_detect_without_default_bundle_assumes_variants(runner: CliRunner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hw._detect, "default_bundle_dir", lambda arch: tmp_path / arch)
    data = json.loads(invoke(runner, "detect", "--root", str(FIXTURES / "rpi5-coral-usb"), "--format",
                             "json").stdout)
    assert data["bundle"]["found"] is False
    assert data["bundle"]["variants"] == ["onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8"]
    assert "assuming" in data["bundle"]["note"]
    assert data["variant"] == "tflite-int8"


def test_detect_honours_backend_override(runner: CliRunner, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIOTWIN_BACKEND", "onnx")
    data = json.loads(invoke(runner, "detect", "--root", str(FIXTURES / "rpi4"), "--format", "json").stdout)
    assert data["variant"] == "onnx-int8"
    assert {"variant": "tflite-int8", "reason": "AIOTWIN_BACKEND=onnx allows only onnxruntime variants"} in (
        data["rejected"])


def test_doctor_expect_all_fails_when_a_backend_is_missing(runner: CliRunner, monkeypatch: pytest.MonkeyPatch):
    from device_runtime.cli import doctor

    table = {"onnxruntime": [], "litert": ["ai-edge-litert"], "torch": ["torch==2.13.0"]}
    monkeypatch.setattr(doctor, "availability_table", lambda: table)
    root = str(FIXTURES / "rpi5")
    result = invoke(runner, "doctor", "--root", root, "--format", "json", "--expect-all")
    assert result.exit_code == ExitCode.DEVICE_DOCTOR_MISSING
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["missing_extras"] == ["infer", "train"]
    litert = next(b for b in data["backends"] if b["name"] == "litert")
    assert litert == {"name": "litert", "available": False, "missing": ["ai-edge-litert"],
                      "install": "pip install 'aiotwin[infer]'"}
    assert invoke(runner, "doctor", "--root", root, "--format", "json").exit_code == 0


def test_doctor_all_present_and_text(runner: CliRunner, monkeypatch: pytest.MonkeyPatch):
    from device_runtime.cli import doctor

    monkeypatch.setattr(doctor, "availability_table", lambda: {"onnxruntime": [], "litert": []})
    result = invoke(runner, "doctor", "--root", str(FIXTURES / "rpi5-coral-usb"), "--expect-all")
    assert result.exit_code == 0, result.output
    for text in ("Backends", "unverified", "libedgetpu1-std", "chosen: tflite-int8"):
        assert text in result.stdout


def test_doctor_survives_a_missing_or_broken_default_bundle_and_bad_env(runner: CliRunner, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hw._detect, "default_bundle_dir", lambda arch: tmp_path / arch)
    data = json.loads(invoke(runner, "doctor", "--root", str(FIXTURES / "x86-64-cuda"), "--format", "json").stdout)
    assert data["bundle"]["found"] is False and data["variant"] == "onnx-int8"
    assert data["accelerators"][0]["status"] == "unverified"
    assert "cuda: install an onnxruntime build with CUDA/TensorRT" in " ".join(data["hints"])
    (tmp_path / "edge").mkdir()
    (tmp_path / "edge" / "manifest.json").write_text("{not json")
    monkeypatch.setenv("AIOTWIN_VARIANT", "bogus")
    result = invoke(runner, "doctor", "--root", str(FIXTURES / "x86-64"), "--format", "json")
    assert result.exit_code == 0
    problems = " ".join(json.loads(result.stdout)["problems"])
    assert "default bundle is invalid" in problems and "AIOTWIN_VARIANT" in problems


def test_importing_hw_and_the_verbs_imports_no_heavy_backend():
    code = ("import sys, device_runtime.hw, device_runtime.cli.detect, device_runtime.cli.doctor\n"
            "print(','.join(m for m in ('onnxruntime', 'cv2', 'torch', 'ai_edge_litert', 'tflite_runtime') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == ""


def test_hw_all_matches_public_names():
    public = {n for n in vars(hw) if not n.startswith("_") and not isinstance(getattr(hw, n), type(sys))}
    assert set(hw.__all__) == public - {"annotations"}
