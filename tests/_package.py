"""Package hygiene shared by the ``test_package`` modules: ``__all__`` lists every public name."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def defined_public_names(path: Path) -> set[str]:
    """Public names a module file defines itself (classes, functions, constants, aliases), not imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def assert_all_lists_public_names(name: str) -> None:
    """Module ``name``'s ``__all__`` holds every public name it defines, and each one exists."""
    mod = importlib.import_module(name)
    assert set(mod.__all__) >= defined_public_names(Path(mod.__file__ or ""))
    for n in mod.__all__:
        assert hasattr(mod, n), n


def modules_loaded_after(code: str, modules: Sequence[str], *, timeout_s: float = 120) -> list[str]:
    """Which of ``modules`` a fresh interpreter has in ``sys.modules`` after running ``code``."""
    probe = f"{code}\nimport sys\nprint('LOADED:' + ','.join(m for m in {tuple(modules)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout_s, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("LOADED:"))
    return [m for m in line.removeprefix("LOADED:").split(",") if m]


__all__ = ["assert_all_lists_public_names", "defined_public_names", "modules_loaded_after"]
