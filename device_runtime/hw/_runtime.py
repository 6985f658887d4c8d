"""Which inference runtimes the *running interpreter* can use (never read from the probed root).

Only what is needed to answer is imported, and only when :func:`probe_runtimes` is called (importing
:mod:`device_runtime.hw` imports nothing heavy):

- onnxruntime is imported when installed: its execution providers are only known to the module (the
  node imports it anyway to run an ``onnx-*`` variant);
- LiteRT (``tflite_runtime``, else ``ai_edge_litert``) is only *looked up* (``find_spec``) unless the
  Edge TPU delegate is to be tried: its interpreter module (and native library, several MB resident)
  is imported only then. A LiteRT wheel whose native library is broken therefore counts as installed
  until an engine opens it, which then fails with its own error.

The finder, the importer and ``which`` are injectable so tests can describe any combination without
installing anything.
"""

from __future__ import annotations

import ctypes
import importlib
import platform
import shutil
from collections.abc import Callable
from types import ModuleType

from aiotwin.availability import module_present
from device_runtime.hw._types import RuntimeInfo

Importer = Callable[[str], ModuleType]
Finder = Callable[[str], bool]
Which = Callable[[str], "str | None"]
Dlopen = Callable[[str], object]

# tflite_runtime first: it is the runtime Coral's own Debian packages and pycoral are built against.
TFLITE_MODULES = ("tflite_runtime", "ai_edge_litert")
EDGETPU_LIBRARY: dict[str, str] = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib",
                                   "Windows": "edgetpu.dll"}
EDGETPU_COMPILER = "edgetpu_compiler"


def _onnxruntime(importer: Importer, finder: Finder) -> tuple[str | None, tuple[str, ...]]:
    if not finder("onnxruntime"):
        return None, ()
    try:
        ort = importer("onnxruntime")
    except (ImportError, OSError):  # OSError: a wheel whose native libraries are missing
        return None, ()
    return str(getattr(ort, "__version__", "unknown")), tuple(ort.get_available_providers())


def _tflite(importer: Importer, finder: Finder, load: bool) -> tuple[str | None, ModuleType | None]:
    """The first installed LiteRT module; its ``interpreter`` submodule too when ``load`` (else None)."""
    for name in TFLITE_MODULES:
        if not finder(name):
            continue
        if not load:
            return name, None
        try:
            return name, importer(f"{name}.interpreter")
        except (ImportError, OSError):
            continue
    return None, None


def _edgetpu_delegate(interpreter: ModuleType, library: str, dlopen: Dlopen) -> tuple[bool, str | None]:
    """Load the delegate once: a missing library raises OSError, a missing device ValueError.

    The library is opened with ``dlopen`` first: LiteRT's ``Delegate.__del__`` raises (an "exception
    ignored" on stderr) when its own load of a missing library fails.
    """
    try:
        dlopen(library)
        interpreter.load_delegate(library)
    except (OSError, ValueError) as exc:
        return False, str(exc) or type(exc).__name__
    return True, None


def probe_runtimes(*, check_edgetpu: bool = True, importer: Importer = importlib.import_module,
                   finder: Finder = module_present, which: Which = shutil.which, dlopen: Dlopen = ctypes.CDLL,
                   system: str | None = None) -> RuntimeInfo:
    """Describe the runtimes importable here; ``check_edgetpu`` tries to load the libedgetpu delegate.

    LiteRT is imported only with ``check_edgetpu`` (see the module docstring).
    """
    version, providers = _onnxruntime(importer, finder)
    tflite_name, interpreter = _tflite(importer, finder, load=check_edgetpu)
    delegate: bool | None = None
    error: str | None = None
    if check_edgetpu and interpreter is not None:
        library = EDGETPU_LIBRARY.get(system or platform.system(), EDGETPU_LIBRARY["Linux"])
        delegate, error = _edgetpu_delegate(interpreter, library, dlopen)
    return RuntimeInfo(
        onnxruntime_version=version, ort_providers=providers, tflite_module=tflite_name,
        edgetpu_delegate=delegate, edgetpu_delegate_error=error, edgetpu_compiler=which(EDGETPU_COMPILER),
    )


__all__ = ["EDGETPU_COMPILER", "EDGETPU_LIBRARY", "TFLITE_MODULES", "Dlopen", "Finder", "Importer", "Which",
           "probe_runtimes"]
