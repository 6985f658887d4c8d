"""The model family and its training/export code, behind the :class:`Task` interface.

Importing this package is light (numpy only). torch, onnx and litert-torch are imported by the
modules that need them (``vehicle``, ``nets``, ``train``, ``export_*``), which are loaded lazily:
by :func:`load_task` or by ``aiotwin models build``.
"""

from __future__ import annotations

from aiotwin.models.errors import ModelBuildError, ModelError, WeightsMismatch
from aiotwin.models.task import LAYERS, ArrayStore, Layers, SampleStore, Task, Weights, load_task

__all__ = [
    "LAYERS", "ArrayStore", "Layers", "ModelBuildError", "ModelError", "SampleStore", "Task", "Weights",
    "WeightsMismatch", "load_task",
]
