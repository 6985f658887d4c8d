"""Errors of the Flower plumbing (:mod:`aiotwin.flower`).

Tree::

    AiotwinError
    └── FlError (aiotwin.fl)          base of every federated-learning error
        └── FlowerError               the Flower processes and apps around the pure FL core
            ├── FlowerMissing         the flwr executables are not installed next to this Python
            ├── FlowerProcessError    a SuperLink/SuperNode failed to start or died
            ├── EdgeJobFailed         an edge-tier job did not finish (ServerApp gone, timed out,
            │                         no node connected in time); carries the job's run id
            └── ClientTrainError      a ClientApp cannot train (no samples, task not allowed,
                                      weights that do not fit); sent back as the reply's error

Update validation errors (wrong base version, malformed or oversized updates) are the
:class:`aiotwin.fl.UpdateRejected` family: a round records them per node and goes on.
"""

from __future__ import annotations

from aiotwin.fl import FlError


class FlowerError(FlError):
    """Base of the errors of the Flower plumbing."""


class FlowerMissing(FlowerError):
    """``flower-superlink``/``flower-supernode``/``flwr`` are not installed (the ``train`` extra)."""


class FlowerProcessError(FlowerError):
    """A Flower process (SuperLink, SuperNode, ``flwr run``) failed to start or died."""


class EdgeJobFailed(FlowerError):
    """An edge-tier job did not finish; ``run_id`` names its run directory."""

    def __init__(self, message: str, *, run_id: str | None = None) -> None:
        self.run_id = run_id
        super().__init__(message if run_id is None else f"edge job {run_id}: {message}")


class ClientTrainError(FlowerError):
    """A ClientApp cannot train on this node; the reason goes back to the aggregator."""


__all__ = ["ClientTrainError", "EdgeJobFailed", "FlowerError", "FlowerMissing", "FlowerProcessError"]
