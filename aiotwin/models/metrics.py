"""Classification metrics over numpy arrays (shared by torch evaluation and runtime evaluation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def classification_metrics(probs: npt.NDArray[np.floating], y: npt.NDArray[np.integer],
                           labels: Sequence[str]) -> dict[str, float]:
    """``accuracy``, ``loss`` (mean cross-entropy of ``probs``) and ``accuracy/<label>``.

    A class absent from ``y`` gets no per-class key.
    """
    if len(y) == 0:
        raise ValueError("cannot compute metrics on an empty set")
    pred = probs.argmax(axis=1)
    picked = probs[np.arange(len(y)), y].astype(np.float64)
    out = {
        "accuracy": float((pred == y).mean()),
        "loss": float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()),
        "samples": float(len(y)),
    }
    for i, label in enumerate(labels):
        mask = y == i
        if mask.any():
            out[f"accuracy/{label}"] = float((pred[mask] == i).mean())
    return out


def confusion_matrix(pred: npt.NDArray[np.integer], y: npt.NDArray[np.integer],
                     classes: int) -> npt.NDArray[np.int64]:
    """``m[true, predicted]`` counts."""
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (y, pred), 1)
    return m


__all__ = ["classification_metrics", "confusion_matrix"]
