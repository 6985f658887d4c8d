"""Training and evaluation loops (torch), with seeded numpy augmentation on ``uint8`` crops.

Augmentation works on the same ``uint8`` RGB crops the engines see and then goes through
:func:`aiotwin.models.preprocess.normalize`, so training and every engine normalise identically.
Runs are reproducible: one numpy generator drives shuffling and augmentation, torch is seeded,
deterministic algorithms are on and the thread count is fixed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from aiotwin.bundle import InputSpec
from aiotwin.models.metrics import classification_metrics
from aiotwin.models.preprocess import normalize
from aiotwin.models.recipe import TrainConfig

log = logging.getLogger("aiotwin.models.train")

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
EVAL_BATCH = 256
# A small local store (a camera's few hundred crops in a federated round) still gets this many
# optimiser steps per epoch: the batch shrinks to n // MIN_STEPS_PER_EPOCH, never below MIN_BATCH.
# Big stores (the recipe's 12k crops) keep the configured batch size.
MIN_STEPS_PER_EPOCH = 16
MIN_BATCH = 16


@contextlib.contextmanager
def reproducible(seed: int, threads: int) -> Iterator[None]:
    """Seed torch, fix threads and force deterministic kernels; restore the previous settings."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


F32 = npt.NDArray[np.float32]


def _rows(n: int, p: float, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    return np.flatnonzero(rng.random(n) < p)


def _flip(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> None:
    rows = _rows(len(x), cfg.flip, rng)
    x[rows] = x[rows][:, :, ::-1]


def _rescale(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> None:
    """Random resized crop: a box of ``crop_scale``..1 of the area, aspect 0.8..1.25, resized back."""
    import cv2

    size_h, size_w = x.shape[1:3]
    for i in _rows(len(x), cfg.crop, rng):
        area, aspect = rng.uniform(cfg.crop_scale, 1.0), np.exp(rng.uniform(-0.22, 0.22))
        h = min(size_h, round(size_h * np.sqrt(area / aspect)))
        w = min(size_w, round(size_w * np.sqrt(area * aspect)))
        top, left = int(rng.integers(0, size_h - h + 1)), int(rng.integers(0, size_w - w + 1))
        x[i] = cv2.resize(x[i, top:top + h, left:left + w], (size_w, size_h), interpolation=cv2.INTER_LINEAR)


def _rotate(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> None:
    """Rotate by up to ``±rotate_deg`` and shear a little (road direction differs per camera)."""
    import cv2

    h, w = x.shape[1:3]
    for i in _rows(len(x), cfg.rotate, rng):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)), 1.0)
        m[0, 1] += float(rng.uniform(-0.15, 0.15))
        x[i] = cv2.warpAffine(x[i], m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _photometric(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> F32:
    n = len(x)
    jitter = rng.random(n) < cfg.color
    contrast = np.where(jitter, rng.uniform(0.6, 1.4, n), 1.0).astype(np.float32)[:, None, None, None]
    bright = np.where(jitter, rng.uniform(-40, 40, n), 0.0).astype(np.float32)[:, None, None, None]
    gain = np.where(jitter[:, None], rng.uniform(0.88, 1.12, (n, 3)), 1.0).astype(np.float32)[:, None, None]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    out: F32 = ((x - mean) * contrast + mean + bright) * gain
    return out


def _channels(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> None:
    """Swap colour channels (paint colour is not a class cue) or drop colour altogether."""
    for i in _rows(len(x), cfg.channel_swap, rng):
        x[i] = x[i][:, :, rng.permutation(3)]
    gray = _rows(len(x), cfg.grayscale, rng)
    x[gray] = x[gray].mean(axis=3, keepdims=True)


def _blur(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> None:
    import cv2

    for i in _rows(len(x), cfg.blur, rng):
        k = int(rng.choice((3, 5)))
        x[i] = cv2.GaussianBlur(x[i], (k, k), float(rng.uniform(0.6, 1.4)))


def _noise(x: F32, cfg: TrainConfig, rng: np.random.Generator) -> None:
    rows = _rows(len(x), cfg.noise, rng)
    if len(rows):
        sigma = rng.uniform(2.0, 12.0, len(rows)).astype(np.float32)[:, None, None, None]
        x[rows] += rng.standard_normal(x[rows].shape, dtype=np.float32) * sigma


def augment(batch: U8, cfg: TrainConfig, rng: np.random.Generator) -> U8:
    """Flip, resized crop, rotation, photometric and channel jitter, blur, noise on a copy of ``batch``."""
    x = batch.astype(np.float32)
    _flip(x, cfg, rng)
    _rescale(x, cfg, rng)
    _rotate(x, cfg, rng)
    x = _photometric(x, cfg, rng)
    _channels(x, cfg, rng)
    _blur(x, cfg, rng)
    _noise(x, cfg, rng)
    out: U8 = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return out


def class_weights(y: I64, classes: int, power: float) -> torch.Tensor | None:
    """Loss weights ``(N / (K·count))**power`` (``power`` 0: none), normalised to mean 1."""
    if power <= 0:
        return None
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    w = np.where(counts > 0, (len(y) / (classes * np.maximum(counts, 1))) ** power, 0.0)
    return torch.tensor(w / w[counts > 0].mean(), dtype=torch.float32)


def to_tensor(batch: U8, spec: InputSpec) -> torch.Tensor:
    return torch.from_numpy(normalize(batch, spec, "nchw"))


def _batches(n: int, size: int, rng: np.random.Generator) -> list[npt.NDArray[np.intp]]:
    perm = rng.permutation(n)
    out = [perm[i:i + size] for i in range(0, n, size)]
    return [b for b in out if len(b) >= 2]  # BatchNorm cannot train on a single sample


def _trainable(net: nn.Module, layers: str) -> list[nn.Parameter]:
    head_only = layers == "head"
    for p in net.parameters():
        p.requires_grad_(not head_only)
    if head_only:
        for p in net.head.parameters():
            p.requires_grad_(True)
    return [p for p in net.parameters() if p.requires_grad]


def _set_mode(net: nn.Module, layers: str, freeze_bn: bool = False) -> None:
    net.train()
    if layers == "head":
        net.features.eval()  # frozen: BatchNorm statistics stay put
    if freeze_bn:
        for module in net.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.eval()


@dataclass
class _Run:
    """What one training run carries from batch to batch."""

    cfg: TrainConfig
    spec: InputSpec
    rng: np.random.Generator
    opt: Any
    sched: Any
    weights: torch.Tensor | None
    present: torch.Tensor | None = None  # restricted softmax: the class indices the store holds
    remap: torch.Tensor | None = None  # class index → position in ``present``


def batch_size_for(n: int, configured: int) -> int:
    """The batch size for ``n`` samples: ``configured``, shrunk so an epoch has enough steps."""
    return max(2, min(configured, max(MIN_BATCH, n // MIN_STEPS_PER_EPOCH)))


def _epoch(net: nn.Module, data: tuple[U8, I64], run: _Run) -> tuple[float, float]:
    (x, y), cfg = data, run.cfg
    loss_sum, correct, seen = 0.0, 0, 0
    for idx in _batches(len(y), batch_size_for(len(y), cfg.batch_size), run.rng):
        inputs, target = to_tensor(augment(x[idx], cfg, run.rng), run.spec), torch.from_numpy(y[idx])
        logits = net(inputs)
        if run.present is not None and run.remap is not None:  # absent classes are not pushed down
            weight = run.weights[run.present] if run.weights is not None else None
            loss = nn.functional.cross_entropy(logits[:, run.present], run.remap[target], weight=weight,
                                               label_smoothing=cfg.label_smoothing)
        else:
            loss = nn.functional.cross_entropy(logits, target, weight=run.weights,
                                               label_smoothing=cfg.label_smoothing)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.sched.step()
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.detach().argmax(1) == target).sum())
        seen += len(idx)
    return loss_sum / max(seen, 1), correct / max(seen, 1)


def _start(net: nn.Module, data: tuple[U8, I64], cfg: TrainConfig, spec: InputSpec, *, seed: int,
           layers: str) -> _Run:
    params = _trainable(net, layers)
    if cfg.optimizer == "sgd":
        opt: Any = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True)
    elif cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"optimizer must be adamw or sgd, got {cfg.optimizer!r}")
    n = len(data[1])
    per_epoch = len(_batches(n, batch_size_for(n, cfg.batch_size), np.random.default_rng(0)))
    total = max(cfg.epochs * per_epoch, 1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.15)
    classes = int(net.head.fc.out_features)
    run = _Run(cfg, spec, np.random.default_rng(seed), opt, sched, class_weights(data[1], classes, cfg.balance))
    held = np.unique(data[1])
    if cfg.local_classes_only and 0 < len(held) < classes:
        run.present = torch.from_numpy(held.astype(np.int64))
        remap = np.zeros(classes, np.int64)
        remap[held] = np.arange(len(held))
        run.remap = torch.from_numpy(remap)
    return run


def fit(net: nn.Module, data: tuple[U8, I64], cfg: TrainConfig, spec: InputSpec, *,
        seed: int, layers: str = "all", tag: str = "") -> dict[str, float]:
    """Train ``net`` in place for ``cfg.epochs``; log one line per epoch; return final metrics."""
    run = _start(net, data, cfg, spec, seed=seed, layers=layers)
    loss, acc = math.nan, math.nan
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        _set_mode(net, layers, cfg.freeze_bn)
        loss, acc = _epoch(net, data, run)
        log.info("%sepoch %d/%d loss %.4f train-acc %.4f (%.1f s)", tag, epoch + 1, cfg.epochs, loss, acc,
                 time.perf_counter() - start)
    for p in net.parameters():
        p.requires_grad_(True)
    net.eval()
    return {"loss": loss, "accuracy": acc, "epochs": float(cfg.epochs), "samples": float(len(data[1]))}


def predict(net: nn.Module, x: U8, spec: InputSpec) -> npt.NDArray[np.float32]:
    """Softmax probabilities of ``net`` (eval mode) for ``x``."""
    net.eval()
    with torch.no_grad():
        out = [torch.softmax(net(to_tensor(x[i:i + EVAL_BATCH], spec)), dim=1).numpy()
               for i in range(0, len(x), EVAL_BATCH)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def evaluate(net: nn.Module, data: tuple[U8, I64], spec: InputSpec, labels: Sequence[str]) -> dict[str, float]:
    return classification_metrics(predict(net, data[0], spec), data[1], labels)


__all__ = ["augment", "batch_size_for", "evaluate", "fit", "predict", "reproducible", "to_tensor"]
