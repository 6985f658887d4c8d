"""Import hygiene: each role imports in a fresh interpreter, --help and config loading stay light,
and every package's ``__all__`` matches what it defines."""

from __future__ import annotations

import importlib
import sys

import pytest

from tests._package import modules_loaded_after

HEAVY = ("torch", "onnxruntime", "cv2", "flwr", "ai_edge_litert", "tflite_runtime", "litert_torch", "onnx")
ROLES = ("aiotwin", "device_runtime", "gateway", "hw_profiles")


def _heavy_after(code: str) -> list[str]:
    return modules_loaded_after(code, HEAVY)


@pytest.mark.parametrize("role", ROLES)
def test_role_imports_in_fresh_interpreter_without_heavy_backends(role):
    assert _heavy_after(f"import {role}") == []


@pytest.mark.parametrize(
    "code",
    [
        "from device_runtime.cli import app\nimport sys\nsys.argv=['aiotwin-device','--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass",
        "from aiotwin.cli import app\nimport sys\nsys.argv=['aiotwin','--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass",
        "from device_runtime.config import load_device_config\nfrom pathlib import Path\n"
        "import tempfile,os\nd=tempfile.mkdtemp()\np=Path(d)/'d.toml'\n"
        "p.write_text('[[cameras]]\\nid=\"a\"\\nsource=\"synthetic:downtown\"\\n')\nload_device_config(p)",
        "from gateway.cli import app\nimport sys\nsys.argv=['aiotwin-gateway','--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass",
        "from gateway.config import load_fl_file, validate_fl\nfrom pathlib import Path\n"
        "import tempfile\nd=tempfile.mkdtemp()\np=Path(d)/'g.toml'\n"
        "p.write_text('[fl]\\nenabled=true\\ncoordinator=\"h:1\"\\ninsecure=true\\n')\nvalidate_fl(load_fl_file(p), p)",
    ],
    ids=["device-help", "aiotwin-help", "config-load", "gateway-help", "gateway-fl-config-load"],
)
def test_help_and_config_loading_import_no_heavy_backend(code):
    assert _heavy_after(code) == []


PUBLIC_PACKAGES = ("aiotwin", "device_runtime", "gateway", "hw_profiles")


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_matches_public_names(name):
    mod = importlib.import_module(name)
    public = {n for n in vars(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), type(sys))}
    public -= {"annotations", "Path"}
    assert set(mod.__all__) >= public - {"TYPE_CHECKING"}
    for n in mod.__all__:
        assert hasattr(mod, n), n
