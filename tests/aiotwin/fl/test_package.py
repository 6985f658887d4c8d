"""Hygiene of :mod:`aiotwin.fl`: ``__all__`` matches, the error tree is drawn, no heavy imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import aiotwin
import aiotwin.fl as fl
from aiotwin.fl import _exceptions
from tests._package import assert_all_lists_public_names, modules_loaded_after

MODULES = ("aiotwin.fl", "aiotwin.fl._exceptions", "aiotwin.fl.rules", "aiotwin.fl.aggregation",
           "aiotwin.fl.rounds", "aiotwin.fl.wire")
SOURCES = sorted(Path(fl.__file__ or "").parent.glob("*.py"))


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_every_public_name(name):
    assert_all_lists_public_names(name)


def test_the_package_reexports_exactly_its_public_api():
    public = {n for n in dir(fl) if not n.startswith("_") and not isinstance(getattr(fl, n), type(sys))}
    assert set(fl.__all__) == public
    assert callable(fl.aggregate)  # the function, not the module of a similar name


def test_every_fl_error_derives_from_the_base_and_is_drawn_in_the_tree():
    for n in _exceptions.__all__:
        cls = getattr(fl, n)
        assert issubclass(cls, fl.FlError)
        assert issubclass(cls, aiotwin.AiotwinError)
        assert n in (_exceptions.__doc__ or "")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_sources_import_numpy_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    third_party = imported - set(sys.stdlib_module_names) - {"aiotwin", "__future__"}
    assert third_party <= {"numpy"}


def test_importing_fl_in_a_fresh_interpreter_loads_no_heavy_backend():
    assert modules_loaded_after("import aiotwin.fl", ("torch", "flwr", "onnxruntime", "cv2")) == []
