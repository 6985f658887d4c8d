"""Crop pre-processing shared by training, every engine and every role (one definition).

Pipeline crops are BGR ``uint8`` (OpenCV convention). :func:`resize_crops` makes an
``N×H×W×3`` RGB ``uint8`` batch at the model's input size; :func:`normalize` turns that into the
float tensor the fp32/fp16 variants take; :func:`quantize` into the int8 tensor of full-integer
variants (scale and zero point read from the model, never hard-coded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from aiotwin.bundle import InputSpec

U8Batch = npt.NDArray[np.uint8]
F32Batch = npt.NDArray[np.float32]


def resize_crops(crops: Sequence[npt.NDArray[np.uint8]], spec: InputSpec, *, bgr: bool = True) -> U8Batch:
    """Resize BGR (or RGB with ``bgr=False``) crops to the model input; returns N×H×W×3 in ``spec.color``."""
    import cv2

    out = np.empty((len(crops), spec.height, spec.width, 3), dtype=np.uint8)
    for i, crop in enumerate(crops):
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] == 0 or crop.shape[1] == 0:
            raise ValueError(f"crop {i} has shape {crop.shape}, expected H×W×3 with H, W > 0")
        img = cv2.resize(crop, (spec.width, spec.height), interpolation=cv2.INTER_AREA)
        if bgr != (spec.color == "bgr"):
            img = img[:, :, ::-1]
        out[i] = img
    return out


def normalize(batch: U8Batch, spec: InputSpec, layout: str = "nchw") -> F32Batch:
    """``(x/255 - mean) / std`` as float32, in ``layout`` (``nchw`` or ``nhwc``)."""
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    x = (batch.astype(np.float32) * np.float32(1.0 / 255.0) - mean) / std
    if layout == "nchw":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x.astype(np.float32, copy=False)


def quantize(x: F32Batch, scale: float, zero_point: int, dtype: type[np.signedinteger] | type[np.unsignedinteger]
             = np.int8) -> npt.NDArray[np.integer]:
    """Affine quantisation ``round(x/scale) + zero_point`` clipped to ``dtype``'s range."""
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    out: npt.NDArray[np.integer] = np.clip(q, info.min, info.max).astype(dtype)
    return out


def softmax(logits: npt.NDArray[np.floating]) -> F32Batch:
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True).astype(np.float32)
    e = np.exp(z)
    probs: F32Batch = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return probs


__all__ = ["normalize", "quantize", "resize_crops", "softmax"]
