"""Errors of federated learning (:mod:`aiotwin.fl`).

Tree::

    AiotwinError
    └── FlError                  base of every federated-learning error
        ├── FlConfigError        an AggregationConfig or RoundPlan is invalid (also a ValueError)
        ├── UpdateRejected       one update cannot be used; carries ``client_id`` and ``reason``
        │   ├── VersionMismatch  the update was trained on another base model version
        │   ├── UpdateMalformed  wrong arrays, shapes or dtype; non-finite values; bad example count;
        │   │                    undecodable, truncated or trailing bytes on the wire
        │   └── UpdateTooLarge   the update is larger than the configured byte limit
        └── AggregationError     a rule cannot run on its inputs (also a ValueError)
            └── NotEnoughUpdates fewer valid updates than the rule needs; ``rejected`` lists every reason

:func:`aiotwin.fl.aggregate` records :class:`UpdateRejected` per client in its result and raises
only :class:`NotEnoughUpdates`, when too little valid input remains.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiotwin._exceptions import AiotwinError


class FlError(AiotwinError):
    """Base of every federated-learning error."""


class FlConfigError(FlError, ValueError):
    """An aggregation or round configuration is invalid; the message lists every problem found."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"invalid {what}: " + "; ".join(self.problems))


class UpdateRejected(FlError):
    """One update cannot be used. ``reason`` is the operator-facing sentence recorded per client."""

    def __init__(self, reason: str, *, client_id: str | None = None) -> None:
        self.reason = reason
        self.client_id = client_id
        super().__init__(reason if client_id is None else f"update from {client_id!r} rejected: {reason}")


class VersionMismatch(UpdateRejected):
    """The update was trained on another base model version than the round's."""


class UpdateMalformed(UpdateRejected):
    """The update's arrays, values, metadata or encoding are invalid."""


class UpdateTooLarge(UpdateRejected):
    """The update is larger than the configured byte limit."""


class AggregationError(FlError, ValueError):
    """An aggregation rule cannot run on its inputs."""


class NotEnoughUpdates(AggregationError):
    """Fewer valid updates than the rule needs; ``rejected`` maps each rejected client to its reason."""

    def __init__(self, message: str, *, rejected: Mapping[str, str] | None = None) -> None:
        self.rejected = dict(rejected or {})
        details = "".join(f"\n  {cid}: {why}" for cid, why in sorted(self.rejected.items()))
        super().__init__(message + (f"; rejected:{details}" if details else ""))


__all__ = [
    "AggregationError",
    "FlConfigError",
    "FlError",
    "NotEnoughUpdates",
    "UpdateMalformed",
    "UpdateRejected",
    "UpdateTooLarge",
    "VersionMismatch",
]
