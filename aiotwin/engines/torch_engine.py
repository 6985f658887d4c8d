"""torch reference engine (``torch-fp32``): the bundle's fp32 weights run through torch, for benchmarks.

Not a deployable variant. The net is built by the bundle's task (``manifest.task``, resolved with
:func:`aiotwin.models.task.load_task`), BatchNorm-folded like the export, and loaded with the weights of
the verified ``onnx-fp32`` file: the i-th ``Conv``/``Gemm`` node of the graph feeds the i-th
``Conv2d``/``Linear`` module (shapes checked). Needs the ``train`` extra (torch) and ``onnx``.
``torch.set_num_threads`` is process-wide: do not open it next to other torch work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin._exceptions import BackendMissing, EngineError
from aiotwin.availability import missing_modules
from aiotwin.bundle import Bundle
from aiotwin.engines._common import (
    EngineOptions,
    F32Batch,
    check_batch,
    empty_result,
    output_kind,
    to_probabilities,
)
from aiotwin.models.preprocess import normalize

_WEIGHT_OPS = ("Conv", "Gemm")


def _onnx_layers(path: Path) -> list[list[npt.NDArray[Any]]]:
    """Initializer inputs of each Conv/Gemm node, in graph order."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    return [[inits[x] for x in n.input[1:] if x in inits] for n in graph.node if n.op_type in _WEIGHT_OPS]


def _load_layers(net: Any, layers: list[list[npt.NDArray[Any]]]) -> None:
    import torch
    from torch import nn

    modules = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if len(modules) != len(layers):
        raise EngineError(f"torch reference: the net has {len(modules)} weight layers, the ONNX graph "
                          f"{len(layers)}")
    with torch.no_grad():
        for module, arrays in zip(modules, layers, strict=True):
            params = [p for p in (module.weight, module.bias) if p is not None]
            if [tuple(p.shape) for p in params] != [a.shape for a in arrays]:
                raise EngineError(f"torch reference: layer {module} does not fit ONNX shapes "
                                  f"{[a.shape for a in arrays]}")
            for p, a in zip(params, arrays, strict=True):
                p.copy_(torch.from_numpy(np.array(a, copy=True)))


def _build_net(bundle: Bundle) -> Any:
    from aiotwin.models.nets import fold_batchnorm
    from aiotwin.models.task import load_task

    m = bundle.manifest
    task = load_task(m.task, arch=m.arch, labels=m.labels, input_size=m.input.height)
    net = getattr(task, "net", None)
    if net is None:
        raise EngineError(f"torch reference: task {m.task} exposes no torch net (.net)")
    return fold_batchnorm(net).eval()


class TorchEngine:
    """fp32 weights in torch on the CPU; see :class:`aiotwin.engines.Engine`."""

    def __init__(self, net: Any, bundle: Bundle, variant: str) -> None:
        self._net: Any = net
        self._variant = variant
        self._spec = bundle.manifest.input
        self._classes = len(bundle.manifest.labels)
        self._output = output_kind(bundle)

    @property
    def variant(self) -> str:
        return self._variant

    @property
    def provider(self) -> str:
        return "torch-cpu"

    def classify(self, batch: npt.NDArray[np.uint8]) -> F32Batch:
        import torch

        x = check_batch(batch, self._spec)
        if len(x) == 0:
            return empty_result(self._classes)
        if self._net is None:
            raise EngineError(f"{self._variant}: engine is closed")
        with torch.inference_mode():
            raw = self._net(torch.from_numpy(normalize(x, self._spec, "nchw"))).numpy()
        return to_probabilities(raw, self._classes, self._output)

    def close(self) -> None:
        self._net = None


def create(bundle: Bundle, variant: str, path: Path, opts: EngineOptions) -> TorchEngine:
    """Build the task's net and load the weights of ``path`` (the verified ``onnx-fp32`` file)."""
    missing = missing_modules("onnx-export")
    if missing:
        raise BackendMissing("onnx-export", missing, "export")
    import torch

    torch.set_num_threads(max(1, opts.threads))
    net = _build_net(bundle)
    _load_layers(net, _onnx_layers(path))
    return TorchEngine(net, bundle, variant)


__all__ = ["TorchEngine", "create"]
