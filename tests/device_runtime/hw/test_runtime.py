"""probe_runtimes() with injected finders/importers: any combination of runtimes, without installing any."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

from aiotwin.availability import module_present
from device_runtime.hw import probe_runtimes
from device_runtime.hw._runtime import TFLITE_MODULES


def fake_ort(providers: list[str]) -> ModuleType:
    mod = ModuleType("onnxruntime")
    mod.__version__ = "9.9.9"  # type: ignore[attr-defined]
    mod.get_available_providers = lambda: providers  # type: ignore[attr-defined]
    return mod


def fake_interpreter(name: str, error: BaseException | None = None) -> ModuleType:
    mod = ModuleType(f"{name}.interpreter")
    calls: list[str] = []

    def load_delegate(library: str) -> object:
        calls.append(library)
        if error is not None:
            raise error
        return object()

    mod.load_delegate = load_delegate  # type: ignore[attr-defined]
    mod.calls = calls  # type: ignore[attr-defined]
    return mod


def importer_of(modules: dict[str, ModuleType], imported: list[str] | None = None):
    def importer(name: str) -> ModuleType:
        if imported is not None:
            imported.append(name)
        if name not in modules:
            raise ModuleNotFoundError(name)
        return modules[name]

    return importer


def finder_of(modules: dict[str, ModuleType]):
    """``find_spec`` of a fake install: a top-level package is there when any of its modules is."""
    tops = {name.split(".")[0] for name in modules}
    return lambda name: name in tops


def ok_dlopen(library: str) -> object:
    return object()


def probe(modules: dict[str, ModuleType], **kwargs: Any):
    """``probe_runtimes`` as if exactly ``modules`` were installed."""
    return probe_runtimes(importer=importer_of(modules), finder=finder_of(modules), **kwargs)


def test_nothing_installed():
    info = probe({}, which=lambda _: None, dlopen=ok_dlopen)
    assert (info.has_onnxruntime, info.has_tflite, info.edgetpu_delegate, info.edgetpu_compiler) == (
        False, False, None, None)


def test_onnxruntime_providers_and_compiler_on_path():
    mods = {"onnxruntime": fake_ort(["TensorrtExecutionProvider", "CPUExecutionProvider"])}
    info = probe(mods, which=lambda n: f"/usr/bin/{n}", dlopen=ok_dlopen)
    assert info.onnxruntime_version == "9.9.9"
    assert info.ort_providers == ("TensorrtExecutionProvider", "CPUExecutionProvider")
    assert info.edgetpu_compiler == "/usr/bin/edgetpu_compiler"


def test_tflite_runtime_is_tried_before_ai_edge_litert():
    tfl, litert = fake_interpreter("tflite_runtime"), fake_interpreter("ai_edge_litert")
    mods = {"tflite_runtime.interpreter": tfl, "ai_edge_litert.interpreter": litert}
    info = probe(mods, which=lambda _: None, dlopen=ok_dlopen, system="Linux")
    assert info.tflite_module == "tflite_runtime"
    assert info.edgetpu_delegate is True
    assert tfl.calls == ["libedgetpu.so.1"]
    assert litert.calls == []


def test_ai_edge_litert_when_tflite_runtime_is_absent():
    mods = {"ai_edge_litert.interpreter": fake_interpreter("ai_edge_litert")}
    info = probe(mods, which=lambda _: None, dlopen=ok_dlopen, check_edgetpu=False)
    assert info.tflite_module == "ai_edge_litert"
    assert info.edgetpu_delegate is None


@pytest.mark.parametrize(
    "error",
    [OSError("libedgetpu.so.1: cannot open shared object file"), ValueError("Failed to load delegate")],
    ids=["missing-library", "no-device"],
)
def test_delegate_failures_are_caught(error: BaseException):
    mods = {"ai_edge_litert.interpreter": fake_interpreter("ai_edge_litert", error)}
    info = probe(mods, which=lambda _: None, dlopen=ok_dlopen)
    assert info.edgetpu_delegate is False
    assert info.edgetpu_delegate_error == str(error)


def test_missing_library_is_found_before_litert_tries_to_load_it():
    interp = fake_interpreter("ai_edge_litert")

    def no_lib(library: str) -> object:
        raise OSError(f"{library}: cannot open shared object file: No such file or directory")

    info = probe({"ai_edge_litert.interpreter": interp}, which=lambda _: None,
                          dlopen=no_lib, system="Darwin")
    assert info.edgetpu_delegate is False
    assert "libedgetpu.1.dylib" in (info.edgetpu_delegate_error or "")
    assert interp.calls == []


def test_a_broken_native_wheel_counts_as_missing():
    def importer(name: str) -> ModuleType:
        raise OSError("libonnxruntime.so: cannot open shared object file")

    info = probe_runtimes(importer=importer, finder=lambda _: True, which=lambda _: None, dlopen=ok_dlopen)
    assert not info.has_onnxruntime and not info.has_tflite


def test_litert_is_only_looked_up_without_the_edgetpu_check():
    """The node does not load LiteRT's native library just to learn that it is installed."""
    mods = {"onnxruntime": fake_ort(["CPUExecutionProvider"]),
            "ai_edge_litert.interpreter": fake_interpreter("ai_edge_litert")}
    imported: list[str] = []
    info = probe_runtimes(importer=importer_of(mods, imported), finder=finder_of(mods), which=lambda _: None,
                          dlopen=ok_dlopen, check_edgetpu=False)
    assert info.tflite_module == "ai_edge_litert" and info.has_onnxruntime
    assert imported == ["onnxruntime"]


def test_absent_runtimes_are_not_imported():
    imported: list[str] = []
    info = probe_runtimes(importer=importer_of({}, imported), finder=finder_of({}), which=lambda _: None,
                          dlopen=ok_dlopen)
    assert not info.has_onnxruntime and not info.has_tflite
    assert imported == []


def test_default_probe_does_not_import_litert_without_the_edgetpu_check():
    code = ("import sys\nfrom device_runtime.hw import probe_runtimes\n"
            "info = probe_runtimes(check_edgetpu=False)\n"
            "print(info.tflite_module, [m for m in ('ai_edge_litert', 'tflite_runtime') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    expected = next((m for m in TFLITE_MODULES if module_present(m)), None)
    assert out[0] == str(expected)
    assert out[1:] == ["[]"]
