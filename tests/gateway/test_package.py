"""Package hygiene for the gateway role: public names, error tree, light imports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import gateway
from aiotwin import AiotwinError
from gateway import _exceptions

MODULES = (
    "gateway", "gateway.router", "gateway.router.config", "gateway.router.kde", "gateway.router.window",
    "gateway.router.swrr", "gateway.router.policy", "gateway.router.qedgeproxy", "gateway.router.baselines",
    "gateway.router.outlier", "gateway.router.retry", "gateway.router.factory", "gateway.router.sim",
    "gateway.router.scenarios", "gateway.router.http_config", "gateway.proxy", "gateway._web",
)


def _defined_public_names(mod: types.ModuleType) -> set[str]:
    """Public names a module defines itself (classes, functions, constants, aliases), not imports."""
    tree = ast.parse(Path(mod.__file__ or "").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


@pytest.mark.parametrize("name", MODULES)
def test_all_matches_public_names(name):
    mod = importlib.import_module(name)
    assert set(mod.__all__) >= _defined_public_names(mod)
    for n in mod.__all__:
        assert hasattr(mod, n), n


def test_every_error_derives_from_the_package_base():
    for n in _exceptions.__all__:
        cls = getattr(gateway, n)
        assert issubclass(cls, AiotwinError)
        assert issubclass(cls, gateway.GatewayError)
        assert n in (_exceptions.__doc__ or "")


def test_router_imports_no_io_or_heavy_module_in_a_fresh_interpreter():
    probe = (
        "import sys, gateway.router, gateway.router.sim, gateway.router.scenarios\n"
        "bad = ('asyncio', 'aiohttp', 'socket', 'numpy', 'torch', 'device_runtime')\n"
        "print(','.join(m for m in bad if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""
