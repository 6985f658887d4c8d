"""``aiotwin models info`` and ``aiotwin models build`` (build: toy data, marked slow)."""

from __future__ import annotations

import json
import warnings

import pytest

from aiotwin.bundle import default_bundle_dir
from aiotwin.exitcodes import ExitCode

with warnings.catch_warnings():  # typer 0.20 touches click.utils names that click 8.2+ deprecates
    warnings.filterwarnings("ignore", message="'click.utils", category=DeprecationWarning)
    from typer.testing import CliRunner

    from aiotwin.cli import app

runner = CliRunner()
SHIPPED = default_bundle_dir("edge")
needs_shipped = pytest.mark.skipif(not (SHIPPED / "manifest.json").exists(), reason="no shipped edge bundle")


@needs_shipped
def test_info_text_defaults_to_the_shipped_edge_bundle():
    result = runner.invoke(app, ["models", "info"])
    assert result.exit_code == 0, result.output
    assert "vehicle-edge" in result.stdout
    assert "onnx-fp32" in result.stdout


@needs_shipped
def test_info_json_is_the_manifest_plus_path():
    result = runner.invoke(app, ["models", "info", str(SHIPPED), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "vehicle-edge"
    assert data["path"] == str(SHIPPED)
    assert set(data["variants"]) >= {"onnx-fp32", "onnx-int8", "onnx-fp16", "tflite-int8"}


def test_info_on_a_missing_bundle_exits_with_the_bundle_code(tmp_path):
    result = runner.invoke(app, ["models", "info", str(tmp_path)])
    assert result.exit_code == ExitCode.DEVICE_BUNDLE_INVALID
    assert "cannot read manifest" in result.output


def test_build_without_torch_gives_an_install_hint(monkeypatch, tmp_path):
    import aiotwin.availability as availability

    real = availability.module_present
    monkeypatch.setattr(availability, "module_present", lambda mod: mod != "torch" and real(mod))
    result = runner.invoke(app, ["models", "build", "--arch", "edge", "--out", str(tmp_path), "--toy"])
    assert result.exit_code == ExitCode.BACKEND_MISSING
    assert "pip install 'aiotwin[train]'" in result.output


@pytest.mark.slow
@pytest.mark.export
def test_build_toy_edge_bundle(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("litert_torch")
    args = ["models", "build", "--arch", "edge", "--out", str(tmp_path), "--toy", "--samples", "120", "--epochs", "1",
            "--version", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["version"] == 4
    assert manifest["extra"]["build"]["toy"] is True
