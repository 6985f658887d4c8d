"""A small numpy evaluator for OpenCV Haar cascades (OpenCV 5 dropped ``cv2.CascadeClassifier``).

It reads the cascade XML files OpenCV ships (both the current ``<cascade>`` format and the old
``opencv-haar-classifier`` one; upright features only) and reproduces ``detectMultiScale``: an
image pyramid with ``scale_factor``, a sliding window (step 2, or 1 once the scale exceeds 2),
variance-normalised feature values, stage-by-stage rejection, and neighbour grouping
(``min_neighbors``, rectangles similar within ``GROUP_EPS``).

The window positions of a pyramid level are evaluated with numpy in slices of bounded size
(:data:`MAX_STAGE_ELEMENTS`); each stage only looks at the windows the previous stages kept.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

STAGE_EPS = 1e-5  # OpenCV's THRESHOLD_EPS: stage thresholds are lowered by this
GROUP_EPS = 0.2  # OpenCV's groupRectangles eps
STEP_SWITCH_SCALE = 2.0  # window step is 2 px below this pyramid scale, 1 px above
# windows × rects of one stage evaluated at once: each temporary stays near 1 MB however large the
# image (all windows at once took tens of MB on a big crop, which the heap then kept).
MAX_STAGE_ELEMENTS = 1 << 17

Rect = tuple[int, int, int, int]  # x, y, w, h
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Stage:
    """One boosted stage, flattened: every rect of every weak classifier in one array."""

    threshold: float
    rects: I64  # r×4: x, y, w, h
    weights: F64  # r
    starts: I64  # k: index of each weak classifier's first rect (rects are grouped per classifier)
    node_thresholds: F64  # k
    leaves: F64  # k×2: value below / above the node threshold


def make_stage(threshold: float, features: Sequence[F64], node_thresholds: F64, leaves: F64) -> Stage:
    rects = np.concatenate([f[:, :4] for f in features]).astype(np.int64)
    starts = np.cumsum([0] + [f.shape[0] for f in features[:-1]]).astype(np.int64)
    weights = np.concatenate([f[:, 4] for f in features])
    return Stage(threshold, rects, weights, starts, node_thresholds, leaves)


@dataclass(frozen=True)
class Cascade:
    width: int
    height: int
    stages: list[Stage]


class CascadeFormatError(ValueError):
    """The file is not a cascade this evaluator reads (tilted features, trees deeper than stumps)."""


def _numbers(text: str | None) -> list[float]:
    return [float(v) for v in (text or "").split()]


def _rects(node: ET.Element) -> npt.NDArray[np.float64]:
    return np.array([_numbers(r.text) for r in node.iter("_")], dtype=np.float64)


def _new_format(root: ET.Element) -> Cascade:
    feats = []
    for f in root.findall("features/_"):
        if (f.findtext("tilted") or "0").strip() != "0":
            raise CascadeFormatError("tilted Haar features are not supported")
        rects_node = f.find("rects")
        assert rects_node is not None
        feats.append(_rects(rects_node))
    stages = []
    for s in root.findall("stages/_"):
        nodes = [_numbers(w.findtext("internalNodes")) for w in s.findall("weakClassifiers/_")]
        leaves = [_numbers(w.findtext("leafValues")) for w in s.findall("weakClassifiers/_")]
        if any(len(n) != 4 for n in nodes):
            raise CascadeFormatError("only stump (depth-1) weak classifiers are supported")
        stages.append(make_stage(
            float(s.findtext("stageThreshold") or 0.0) - STAGE_EPS,
            [feats[int(n[2])] for n in nodes],
            np.array([n[3] for n in nodes]), np.array(leaves, dtype=np.float64),
        ))
    return Cascade(int(root.findtext("width") or 0), int(root.findtext("height") or 0), stages)


def _old_format(root: ET.Element) -> Cascade:
    w, h = (int(v) for v in (root.findtext("size") or "0 0").split())
    stages = []
    for s in root.findall("stages/_"):
        trees = [t.find("_") for t in s.findall("trees/_")]
        nodes = [t for t in trees if t is not None]
        feats = []
        for n in nodes:
            feat = n.find("feature")
            rects = feat.find("rects") if feat is not None else None
            if feat is None or rects is None or (feat.findtext("tilted") or "0").strip() != "0":
                raise CascadeFormatError("tilted or malformed feature")
            feats.append(_rects(rects))
        stages.append(make_stage(
            float(s.findtext("stage_threshold") or 0.0) - STAGE_EPS, feats,
            np.array([float(n.findtext("threshold") or 0.0) for n in nodes]),
            np.array([[float(n.findtext("left_val") or 0.0), float(n.findtext("right_val") or 0.0)]
                      for n in nodes]),
        ))
    return Cascade(w, h, stages)


def load_cascade(path: Path) -> Cascade:
    """Parse an OpenCV Haar cascade XML file."""
    root = ET.parse(path).getroot()  # noqa: S314 - trusted package data
    node = root[0]
    if node.find("stages") is None:
        raise CascadeFormatError(f"{path}: no <stages>")
    return _new_format(node) if node.find("features") is not None else _old_format(node)


def _integrals(img: npt.NDArray[np.uint8]) -> tuple[F64, F64]:
    f = img.astype(np.float64)
    ii = np.zeros((f.shape[0] + 1, f.shape[1] + 1))
    sq = np.zeros_like(ii)
    ii[1:, 1:] = f.cumsum(0).cumsum(1)
    sq[1:, 1:] = (f * f).cumsum(0).cumsum(1)
    return ii, sq


def _rect_sum(flat: F64, base: I64, stride: int, rect: Sequence[float]) -> F64:
    x, y, w, h = rect[:4]
    o1 = int(y) * stride + int(x)
    o2, o3, o4 = o1 + int(w), o1 + int(h) * stride, o1 + int(h) * stride + int(w)
    return flat[base + o4] - flat[base + o2] - flat[base + o3] + flat[base + o1]


def _norm(ii: F64, sq: F64, base: I64, c: Cascade) -> F64:
    stride = ii.shape[1]
    area = (c.width - 2) * (c.height - 2)
    inner = (1, 1, c.width - 2, c.height - 2)
    s = _rect_sum(ii.ravel(), base, stride, inner)
    q = _rect_sum(sq.ravel(), base, stride, inner)
    nf = area * q - s * s
    return np.where(nf > 0, np.sqrt(np.maximum(nf, 0.0)), 1.0)


def _stage_sums(flat: F64, base: I64, stride: int, stage: Stage) -> F64:
    """Weighted rect sums of every weak classifier of ``stage`` at every window: n×k."""
    x, y, w, h = stage.rects.T
    o1 = y * stride + x
    o2, o3, o4 = o1 + w, o1 + h * stride, o1 + h * stride + w
    b = base[:, None]
    sums = flat[b + o4] - flat[b + o2] - flat[b + o3] + flat[b + o1]
    return np.add.reduceat(sums * stage.weights, stage.starts, axis=1)


def _stage_keep(flat: F64, base: I64, nf: F64, stride: int, stage: Stage) -> npt.NDArray[np.bool_]:
    values = _stage_sums(flat, base, stride, stage)
    below = values < stage.node_thresholds[None, :] * nf[:, None]
    total = np.where(below, stage.leaves[:, 0], stage.leaves[:, 1]).sum(axis=1)
    return np.asarray(total >= stage.threshold)


def _run_stages(ii: F64, base: I64, nf: F64, c: Cascade) -> I64:
    """The windows of ``base`` that pass every stage, evaluated at most ``MAX_STAGE_ELEMENTS`` at a time."""
    flat, stride = ii.ravel(), ii.shape[1]
    for stage in c.stages:
        if base.size == 0:
            break
        step = max(1, MAX_STAGE_ELEMENTS // len(stage.rects))
        keep = np.concatenate([_stage_keep(flat, base[i:i + step], nf[i:i + step], stride, stage)
                               for i in range(0, len(base), step)])
        base, nf = base[keep], nf[keep]
    return base


def _level(grey: npt.NDArray[np.uint8], c: Cascade, factor: float) -> list[Rect]:
    import cv2

    h, w = round(grey.shape[0] / factor), round(grey.shape[1] / factor)
    img = cv2.resize(grey, (w, h), interpolation=cv2.INTER_LINEAR) if factor != 1.0 else grey
    ii, sq = _integrals(img)
    step = 2 if factor <= STEP_SWITCH_SCALE else 1
    ys, xs = np.mgrid[0 : h - c.height + 1 : step, 0 : w - c.width + 1 : step]
    base = (ys.ravel() * ii.shape[1] + xs.ravel()).astype(np.int64)
    hits = _run_stages(ii, base, _norm(ii, sq, base, c), c)
    size_w, size_h = round(c.width * factor), round(c.height * factor)
    return [(round((b % ii.shape[1]) * factor), round((b // ii.shape[1]) * factor), size_w, size_h)
            for b in hits.tolist()]


def _similar(a: Rect, b: Rect) -> bool:
    delta = GROUP_EPS * (min(a[2], b[2]) + min(a[3], b[3])) * 0.5
    return (abs(a[0] - b[0]) <= delta and abs(a[1] - b[1]) <= delta
            and abs(a[0] + a[2] - b[0] - b[2]) <= delta and abs(a[1] + a[3] - b[1] - b[3]) <= delta)


def group_rectangles(rects: list[Rect], min_neighbors: int) -> list[Rect]:
    """OpenCV's ``groupRectangles``: clusters of similar rects with > ``min_neighbors`` members, averaged."""
    if min_neighbors <= 0:
        return list(rects)
    labels = list(range(len(rects)))

    def find(i: int) -> int:
        while labels[i] != i:
            labels[i] = labels[labels[i]]
            i = labels[i]
        return i

    for i in range(len(rects)):
        for j in range(i):
            if _similar(rects[i], rects[j]):
                labels[find(i)] = find(j)
    clusters: dict[int, list[Rect]] = {}
    for i, r in enumerate(rects):
        clusters.setdefault(find(i), []).append(r)
    return [tuple(round(float(v)) for v in np.mean(members, axis=0)) for members in clusters.values()  # type: ignore[misc]
            if len(members) > min_neighbors]


def detect_multiscale(
    grey: npt.NDArray[np.uint8], cascade: Cascade, *, scale_factor: float = 1.1, min_neighbors: int = 3,
    min_size: tuple[int, int] = (0, 0),
) -> list[Rect]:
    """Rectangles ``(x, y, w, h)`` where the cascade fires, grouped like OpenCV's detectMultiScale."""
    found: list[Rect] = []
    factor = 1.0
    while grey.shape[1] / factor >= cascade.width and grey.shape[0] / factor >= cascade.height:
        if cascade.width * factor >= min_size[0] and cascade.height * factor >= min_size[1]:
            found += _level(grey, cascade, factor)
        factor *= scale_factor
    return group_rectangles(found, min_neighbors)


__all__ = ["Cascade", "CascadeFormatError", "detect_multiscale", "group_rectangles", "load_cascade"]
