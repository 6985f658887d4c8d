"""The vehicle classifier family in torch: one MobileNet-style net, two sizes (edge, cloud).

Only ops that convert cleanly to ONNX and to full-integer TFLite (and the Edge TPU): ``Conv2d``
(regular and depthwise), ``BatchNorm2d`` (folded into the convolution for export, see
:func:`fold_batchnorm`), ``ReLU``, global average pooling as ``mean`` and ``Linear``.

The net is ``features`` (stem + depthwise-separable blocks) followed by a separate ``head``
module, so ``layers="head"`` training can freeze everything else.

Importing this module imports torch: it is only ever imported lazily.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


@dataclass(frozen=True)
class NetSpec:
    """One size of the family: stem width, then ``(out_channels, stride)`` per separable block."""

    name: str
    stem: int
    stem_stride: int
    blocks: tuple[tuple[int, int], ...]
    last: int = 0  # width of a final 1×1 conv before pooling (0: none)
    dropout: float = 0.0


ARCHS: dict[str, NetSpec] = {
    # ~40 k params, ~3.6 M MACs at 64×64: the camera node's model.
    "edge": NetSpec(
        "edge", stem=16, stem_stride=2,
        blocks=((32, 1), (48, 2), (48, 1), (96, 2), (96, 1), (160, 2)),
        dropout=0.1,
    ),
    # ~0.6 M params, ~20 M MACs at 64×64: the gateway/cloud model offloaded crops go to.
    "cloud": NetSpec(
        "cloud", stem=24, stem_stride=2,
        blocks=((48, 1), (96, 2), (96, 1), (192, 2), (192, 1), (192, 1), (384, 2), (384, 1)),
        last=640, dropout=0.2,
    ),
}


class ConvBN(nn.Sequential):  # type: ignore[misc]
    """Conv2d (no bias) → BatchNorm2d → ReLU; ``groups == in_ch`` makes it depthwise."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class SeparableBlock(nn.Sequential):  # type: ignore[misc]
    """Depthwise 3×3 (with stride) then pointwise 1×1, each with BN and ReLU (MobileNet v1)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__(ConvBN(in_ch, in_ch, 3, stride, groups=in_ch), ConvBN(in_ch, out_ch, 1))


class GlobalAvgPool(nn.Module):  # type: ignore[misc]
    """``mean`` over H and W (becomes ReduceMean in ONNX, MEAN in TFLite)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class Head(nn.Module):  # type: ignore[misc]
    """The classifier head: global average pool, dropout, linear."""

    def __init__(self, in_ch: int, classes: int, dropout: float) -> None:
        super().__init__()
        self.pool = GlobalAvgPool()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(x)))


class VehicleNet(nn.Module):  # type: ignore[misc]
    """``features`` then ``head``; input N×3×H×W normalised float, output logits N×classes."""

    def __init__(self, spec: NetSpec, classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBN(3, spec.stem, 3, spec.stem_stride)]
        ch = spec.stem
        for out_ch, stride in spec.blocks:
            layers.append(SeparableBlock(ch, out_ch, stride))
            ch = out_ch
        if spec.last:
            layers.append(ConvBN(ch, spec.last, 1))
            ch = spec.last
        self.features = nn.Sequential(*layers)
        self.head = Head(ch, classes, spec.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_net(arch: str, classes: int) -> VehicleNet:
    """A freshly initialised net of size ``arch`` (``edge`` or ``cloud``)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r} (known: {', '.join(ARCHS)})")
    net = VehicleNet(ARCHS[arch], classes)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
    return net


def count_params(net: nn.Module) -> int:
    return sum(int(p.numel()) for p in net.parameters())


def _fold_into(seq: nn.Sequential) -> None:
    conv, bn = seq[0], seq[1]
    seq[0] = fuse_conv_bn_eval(conv, bn)
    seq[1] = nn.Identity()


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """An eval-mode copy with every BatchNorm folded into its convolution (for export)."""
    deploy = copy.deepcopy(net).eval()
    for m in [m for m in deploy.modules() if isinstance(m, ConvBN)]:
        _fold_into(m)
    for m in [m for m in deploy.modules() if isinstance(m, Head)]:
        m.dropout = nn.Identity()
    return deploy


__all__ = ["ARCHS", "NetSpec", "VehicleNet", "build_net", "count_params", "fold_batchnorm"]
