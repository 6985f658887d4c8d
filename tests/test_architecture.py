"""The architecture rules (scripts/lint_architecture.py) hold for the tree, and exit codes are documented."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lint_architecture", ROOT / "scripts" / "lint_architecture.py")
assert _spec and _spec.loader
lint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint)


@pytest.mark.parametrize("check", lint.CHECKS, ids=lambda c: c.__name__)
def test_architecture_rule(check):
    assert check() == []


def test_layer_check_catches_a_forbidden_import(tmp_path, monkeypatch):
    (tmp_path / "aiotwin").mkdir()
    (tmp_path / "aiotwin" / "__init__.py").write_text("def f():\n    import device_runtime.hw\n")
    (tmp_path / "device_runtime").mkdir()
    (tmp_path / "device_runtime" / "__init__.py").write_text("import aiotwin\n")
    monkeypatch.setattr(lint, "ROOT", tmp_path)
    errors = lint.check_layers()
    assert len(errors) == 1
    assert "aiotwin/__init__.py:2 imports device_runtime.hw" in errors[0]
