"""The ``Engine`` protocol every inference runtime binding implements.

An engine runs one variant of one bundle. ``classify`` takes a batch of crops already resized to the
model input (N×H×W×3 ``uint8`` in the bundle's colour order, see :mod:`aiotwin.models.preprocess`)
and returns class probabilities ``N×C`` float32 (softmax applied). Engines do their own
normalisation/quantisation, so callers never care which variant runs.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt


class Engine(Protocol):
    """One loaded model variant."""

    @property
    def variant(self) -> str:
        """Variant id, e.g. ``onnx-int8``."""
        ...

    @property
    def provider(self) -> str:
        """What actually executes it, e.g. ``CPUExecutionProvider``, ``litert-xnnpack``, ``edgetpu``."""
        ...

    def classify(self, batch: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Class probabilities for a batch of model-sized crops."""
        ...

    def close(self) -> None:
        """Release native resources."""
        ...


__all__ = ["Engine"]
