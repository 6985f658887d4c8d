"""Smooth weighted round robin (nginx ``ngx_http_upstream_get_peer``), integer weights.

Each pick adds every peer's weight to its current weight, picks the largest current weight (the first
one on ties, in insertion order) and subtracts the total from it. Weights 5, 1, 1 give
a, a, b, a, c, a, a: the heavy peer is interleaved, not sent in bursts. Changing the weights keeps the
current weights of peers that stay, as nginx does on reload, so the sequence does not restart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def scale_weights(weights: Mapping[str, float], scale: int) -> dict[str, int]:
    """Float weights → integers proportional to them (largest = ``scale``); positive stays ≥ 1."""
    top = max((w for w in weights.values() if w > 0), default=0.0)
    if top <= 0:
        return {}
    return {k: max(1, round(scale * w / top)) for k, w in weights.items() if w > 0}


class SmoothWeightedRoundRobin:
    """Stateful SWRR over named peers with positive integer weights."""

    __slots__ = ("_current", "_weights")

    def __init__(self, weights: Mapping[str, int] | None = None) -> None:
        self._weights: dict[str, int] = {}
        self._current: dict[str, int] = {}
        if weights:
            self.set_weights(weights)

    @property
    def weights(self) -> dict[str, int]:
        return dict(self._weights)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Replace the peer set; peers that stay keep their current weight, new ones start at 0."""
        if any(w <= 0 for w in weights.values()):
            raise ValueError(f"SWRR weights must be positive integers: {dict(weights)}")
        if dict(weights) == self._weights:
            return
        self._weights = dict(weights)
        self._current = {k: self._current.get(k, 0) for k in self._weights}

    def next(self, exclude: Collection[str] = ()) -> str | None:
        """Pick the next peer, skipping ``exclude``; ``None`` when no peer is left."""
        best: str | None = None
        total = 0
        for peer, weight in self._weights.items():
            if peer in exclude:
                continue
            self._current[peer] += weight
            total += weight
            if best is None or self._current[peer] > self._current[best]:
                best = peer
        if best is not None:
            self._current[best] -= total
        return best

    def __len__(self) -> int:
        return len(self._weights)


__all__ = ["SmoothWeightedRoundRobin", "scale_weights"]
