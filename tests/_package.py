"""Package hygiene shared by the ``test_package`` modules: ``__all__`` lists every public name."""

from __future__ import annotations

import ast
import importlib
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


__all__ = ["assert_all_lists_public_names", "defined_public_names"]
