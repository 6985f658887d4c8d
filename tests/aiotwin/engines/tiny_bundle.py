"""A tiny model bundle built inside the tests: one set of numpy weights, exported to every variant.

The net is conv 3×3/2 → ReLU → global mean → linear, with weights chosen so that each class is
"one colour channel is high/low": sample crops of dominant colours are classified with wide
margins, so int8 variants must agree with fp32. ONNX variants are written with the ``onnx`` helper
API; the int8 TFLite goes through litert-torch (the ``export`` extra), when installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import numpy as np

SIZE = 16
LABELS = ["red", "green", "blue", "not-red", "not-green", "not-blue"]
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


def weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    conv_w = rng.normal(0, 0.01, (8, 3, 3, 3)).astype(np.float32)
    for c in range(3):
        conv_w[c, c, 1, 1] = 1.0
        conv_w[c + 3, c, 1, 1] = -1.0
    fc_w = np.zeros((len(LABELS), 8), np.float32)
    for k in range(6):
        fc_w[k, k] = 4.0
    return {"conv_w": conv_w, "conv_b": np.zeros(8, np.float32), "fc_w": fc_w,
            "fc_b": np.zeros(len(LABELS), np.float32)}


def sample_crops(n: int, seed: int = 0) -> np.ndarray:
    """N×SIZE×SIZE×3 RGB uint8 crops with one dominant (high or low) channel each, plus noise."""
    rng = np.random.default_rng(seed)
    base = np.full((n, 3), 128.0)
    k = rng.integers(0, 6, n)
    base[np.arange(n), k % 3] = np.where(k < 3, 250.0, 5.0)
    img = base[:, None, None, :] + rng.normal(0, 12, (n, SIZE, SIZE, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def normalized(crops: np.ndarray) -> np.ndarray:
    x = (crops.astype(np.float32) / 255.0 - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)).astype(np.float32)


def _onnx_model(fp16: bool):
    from onnx import TensorProto, helper, numpy_helper

    w = weights()
    wt = np.float16 if fp16 else np.float32
    inits = [numpy_helper.from_array(v.astype(wt), k) for k, v in w.items()]
    x_name, nodes = "x", []
    if fp16:
        nodes.append(helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16))
        x_name = "xh"
    nodes += [
        helper.make_node("Conv", [x_name, "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["yh" if fp16 else "logits"], transB=1),
    ]
    if fp16:
        nodes.append(helper.make_node("Cast", ["yh"], ["logits"], to=TensorProto.FLOAT))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(LABELS)])], inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


class _Calibration:
    def __init__(self, x: np.ndarray) -> None:
        self._items = iter([{"x": x[i:i + 1]} for i in range(len(x))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _write_onnx(out: Path) -> dict[str, str]:
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    onnx.save(_onnx_model(False), out / "model.fp32.onnx")
    onnx.save(_onnx_model(True), out / "model.fp16.onnx")
    quantize_static(str(out / "model.fp32.onnx"), str(out / "model.int8.onnx"),
                    _Calibration(normalized(sample_crops(64, seed=1))), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
    return {"onnx-fp32": "model.fp32.onnx", "onnx-fp16": "model.fp16.onnx", "onnx-int8": "model.int8.onnx"}


def _torch_net():
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, 2, 1)
            self.fc = nn.Linear(8, len(LABELS))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    net = Tiny()
    w = weights()
    with torch.no_grad():
        for p, key in ((net.conv.weight, "conv_w"), (net.conv.bias, "conv_b"), (net.fc.weight, "fc_w"),
                       (net.fc.bias, "fc_b")):
            p.copy_(torch.from_numpy(w[key]))
    return net.eval()


def export_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("litert_torch", "torchao", "torch"))


def _write_tflite(out: Path) -> dict[str, str]:
    import litert_torch
    import torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    calib = torch.from_numpy(normalized(sample_crops(64, seed=1)))
    quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    with warnings.catch_warnings():
        # torch.export deep-copies pytree specs through copyreg: not ours to fix (torch 2.13).
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                category=FutureWarning)
        gm = prepare_pt2e(torch.export.export(_torch_net(), (calib[:1],)).module(), quantizer)
        with torch.no_grad():
            for x in calib:
                gm(x[None])
        gm = litert_torch.to_channel_last_io(convert_pt2e(gm, fold_quantize=False), args=[0])
        edge = litert_torch.convert(gm, (calib[:1].permute(0, 2, 3, 1),),
                                    quant_config=QuantConfig(pt2e_quantizer=quantizer))
    edge.export(str(out / "model.int8.tflite"))
    shutil.copy(out / "model.int8.tflite", out / "model.edgetpu.tflite")
    return {"tflite-int8": "model.int8.tflite", "tflite-edgetpu": "model.edgetpu.tflite"}


def write_manifest(out: Path, files: dict[str, str]) -> None:
    variants = {}
    for vid, name in files.items():
        data = (out / name).read_bytes()
        variants[vid] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                         "layout": "nhwc" if vid.startswith("tflite") else "nchw",
                         "dtype": "int8" if "int8" in vid or "edgetpu" in vid else "float32"}
    manifest = {"format": 1, "name": "tiny", "version": 1, "task": "tests.tiny:Tiny", "arch": "tiny",
                "labels": LABELS, "input": {"height": SIZE, "width": SIZE, "channels": 3, "color": "rgb",
                                            "mean": list(MEAN), "std": list(STD)},
                "variants": variants}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def build(out: Path, *, tflite: bool) -> Path:
    """Write the tiny bundle into ``out``; the TFLite variants only with ``tflite`` and the export extra."""
    out.mkdir(parents=True, exist_ok=True)
    files = _write_onnx(out)
    if tflite and export_available():
        files |= _write_tflite(out)
    write_manifest(out, files)
    return out
