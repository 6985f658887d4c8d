"""ONNX variants: ``onnx-fp32`` (torch export), ``onnx-int8`` (static QDQ), ``onnx-fp16``.

- fp32: ``torch.onnx.export`` (TorchScript path, ``dynamo=False``), opset 17, dynamic batch axis,
  weights inside the file; BatchNorm is already folded by the caller.
- int8: :func:`onnxruntime.quantization.quantize_static`, QDQ format, per-channel int8 weights,
  uint8 activations, calibrated on representative crops through a ``CalibrationDataReader``.
- fp16: float16 weights and compute with float32 inputs/outputs (for the CUDA/TensorRT providers),
  converted with the float16 converter bundled in onnxruntime.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiotwin.bundle import InputSpec
from aiotwin.models.preprocess import normalize

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
CALIBRATION_BATCH = 32


def export_fp32(net: Any, spec: InputSpec, path: Path) -> Path:
    """Write ``net`` (eval mode, BN folded) as a float32 ONNX model with a dynamic batch axis."""
    import torch

    dummy = torch.zeros(1, spec.channels, spec.height, spec.width)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            net.eval(), (dummy,), str(path), opset_version=OPSET, dynamo=False, external_data=False,
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    return path


def _reader(x: npt.NDArray[np.float32]) -> Any:
    """A ``CalibrationDataReader`` over normalised crops in fixed-size batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches = iter([x[i:i + CALIBRATION_BATCH] for i in range(0, len(x), CALIBRATION_BATCH)])

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            batch = next(self._batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    return Reader()


def export_int8(fp32_path: Path, calibration: npt.NDArray[np.uint8], spec: InputSpec, path: Path) -> Path:
    """Static QDQ quantisation of ``fp32_path`` calibrated with ``calibration`` (uint8 crops)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reader = _reader(normalize(calibration, spec, "nchw"))
    with tempfile.TemporaryDirectory(prefix="aiotwin-q-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(path), reader, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return path


def export_fp16(fp32_path: Path, path: Path) -> Path:
    """float16 weights and compute, float32 input/output (``keep_io_types``)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32_path))
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(half, str(path))
    return path


__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "export_fp16", "export_fp32", "export_int8"]
