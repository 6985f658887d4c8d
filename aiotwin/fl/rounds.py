"""Round bookkeeping: deadline + quorum, with an injected clock and no I/O.

A round is planned for a set of assigned clients. It **closes** as soon as every assigned client
has replied (accepted or rejected), when its deadline passes, or when :meth:`RoundState.close` is
called; nothing ever waits past the deadline. It **succeeds** when at least ``quorum`` valid
updates arrived before closing, ``quorum = ceil(quorum_frac × assigned)``. Every client ends in
exactly one bucket: accepted, rejected (with a reason), late (replied after closing; never used)
or missing (never replied).

Typical loop (the async waiting lives in the caller, which sleeps ``remaining_s()`` at most)::

    state = RoundState(plan, clock=time.monotonic)
    ...on each reply:   state.record_reply(update)       (or record_rejected(cid, err.reason))
    ...when closed:     result = aggregate(w, state.updates(), cfg, base_version=plan.base_version)
                        state.record_rejected_many(result.rejected)
                        outcome = state.outcome()         (quorum_met decides whether to publish)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from aiotwin.fl._exceptions import FlConfigError, VersionMismatch
from aiotwin.fl.aggregation import Update, check_version

Clock = Callable[[], float]
"""Monotonic seconds (``time.monotonic``, or a fake clock in tests)."""

DEFAULT_QUORUM_FRAC = 0.6  # issue 4: "≥ 60 % of assigned clients within T"
DEFAULT_ROUND_DEADLINE_S = 600.0  # T: no source fixes it; a few local epochs of the edge model on a Pi-class CPU


class ReplyStatus(StrEnum):
    """What :class:`RoundState` did with one reply."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    LATE = "late"
    DUPLICATE = "duplicate"
    UNASSIGNED = "unassigned"


class CloseReason(StrEnum):
    ALL_REPLIED = "all-replied"
    DEADLINE = "deadline"
    CLOSED = "closed"


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class RoundPlan:
    """Who is asked to train on which base model, and how long the round waits for them."""

    round_id: int
    base_version: str
    assigned: frozenset[str]
    quorum_frac: float = DEFAULT_QUORUM_FRAC
    deadline_s: float = DEFAULT_ROUND_DEADLINE_S

    def __post_init__(self) -> None:
        object.__setattr__(self, "assigned", frozenset(self.assigned))
        problems = []
        if isinstance(self.round_id, bool) or not (isinstance(self.round_id, int) and self.round_id >= 0):
            problems.append(f"round-id must be an integer ≥ 0; got {self.round_id!r}")
        if not self.assigned or not all(isinstance(c, str) and c for c in self.assigned):
            problems.append("assigned must name at least one client, each a non-empty string")
        if not self.base_version:
            problems.append("base-version must be a non-empty string")
        if not (_is_number(self.quorum_frac) and 0 < self.quorum_frac <= 1):
            problems.append(f"quorum-frac must be in (0, 1]; got {self.quorum_frac!r}")
        if not (_is_number(self.deadline_s) and self.deadline_s > 0):
            problems.append(f"deadline-s must be a finite number > 0; got {self.deadline_s!r}")
        if problems:
            raise FlConfigError("round plan", problems)

    @property
    def quorum(self) -> int:
        """Valid updates needed for success: ``ceil(quorum_frac × len(assigned))``, at least 1."""
        return max(1, math.ceil(self.quorum_frac * len(self.assigned) - 1e-9))


@dataclass(frozen=True)
class RoundOutcome:
    """A snapshot of a round: who landed in which bucket, and whether the quorum was met."""

    round_id: int
    closed: bool
    close_reason: CloseReason | None
    closed_at: float | None
    quorum: int
    quorum_met: bool
    accepted: tuple[str, ...]
    rejected: Mapping[str, str]
    late: tuple[str, ...]
    missing: tuple[str, ...]
    unassigned: tuple[str, ...]


class RoundState:
    """The replies of one round as they arrive; times come from the injected ``clock``."""

    def __init__(self, plan: RoundPlan, *, clock: Clock = time.monotonic) -> None:
        self.plan = plan
        self._clock = clock
        self.started_at = clock()
        self._accepted: dict[str, tuple[Update, float]] = {}
        self._rejected: dict[str, str] = {}
        self._late: dict[str, float] = {}
        self._unassigned: dict[str, float] = {}
        self._closed_at: float | None = None
        self._close_reason: CloseReason | None = None

    @property
    def deadline_at(self) -> float:
        return self.started_at + self.plan.deadline_s

    def remaining_s(self) -> float:
        """Seconds until the deadline (0 once the round is closed)."""
        return 0.0 if self.is_closed() else max(0.0, self.deadline_at - self._clock())

    def is_closed(self) -> bool:
        """Whether the round is closed; a passed deadline closes it (at the deadline's time)."""
        if self._closed_at is None and self._clock() >= self.deadline_at:
            self._close(CloseReason.DEADLINE, self.deadline_at)
        return self._closed_at is not None

    def close(self) -> RoundOutcome:
        """Close now (idempotent) and return the outcome."""
        if not self.is_closed():
            self._close(CloseReason.CLOSED, self._clock())
        return self.outcome()

    def _close(self, reason: CloseReason, at: float) -> None:
        self._close_reason, self._closed_at = reason, at

    def _replied(self, client_id: str) -> bool:
        return client_id in self._accepted or client_id in self._rejected or client_id in self._late

    def _triage(self, client_id: str) -> ReplyStatus | None:
        """The status of a reply that cannot be taken in, or None when it can."""
        now = self._clock()
        if client_id not in self.plan.assigned:
            self._unassigned.setdefault(client_id, now)
            return ReplyStatus.UNASSIGNED
        if self._replied(client_id):
            return ReplyStatus.DUPLICATE
        if self.is_closed():
            self._late[client_id] = now
            return ReplyStatus.LATE
        return None

    def record_reply(self, update: Update) -> ReplyStatus:
        """Take in one decoded update. The first on-time reply of a client counts; the rest do not."""
        status = self._triage(update.client_id)
        if status is not None:
            return status
        try:
            check_version(update, self.plan.base_version)
        except VersionMismatch as exc:
            return self._reject(update.client_id, exc.reason)
        self._accepted[update.client_id] = (update, self._clock())
        self._maybe_all_replied()
        return ReplyStatus.ACCEPTED

    def record_rejected(self, client_id: str, reason: str) -> ReplyStatus:
        """Record a reply that cannot be used (undecodable, invalid), or revoke an accepted one.

        Revoking works at any time, so reasons from :func:`aiotwin.fl.aggregate` can be recorded
        after the round closed; they then no longer count towards the quorum.
        """
        if client_id in self._accepted:
            del self._accepted[client_id]
            self._rejected[client_id] = reason
            return ReplyStatus.REJECTED
        status = self._triage(client_id)
        return status if status is not None else self._reject(client_id, reason)

    def record_rejected_many(self, rejected: Mapping[str, str]) -> None:
        """:meth:`record_rejected` for each ``{client: reason}`` (e.g. ``AggregateResult.rejected``)."""
        for client_id, reason in rejected.items():
            self.record_rejected(client_id, reason)

    def _reject(self, client_id: str, reason: str) -> ReplyStatus:
        self._rejected[client_id] = reason
        self._maybe_all_replied()
        return ReplyStatus.REJECTED

    def _maybe_all_replied(self) -> None:
        if self._closed_at is None and all(self._replied(c) for c in self.plan.assigned):
            self._close(CloseReason.ALL_REPLIED, self._clock())

    def updates(self) -> list[Update]:
        """The accepted on-time updates, in arrival order."""
        return [u for u, _ in self._accepted.values()]

    def arrivals(self) -> dict[str, float]:
        """Arrival time of every accepted and late reply, by client."""
        return {**{c: t for c, (_, t) in self._accepted.items()}, **self._late}

    def outcome(self) -> RoundOutcome:
        closed = self.is_closed()
        return RoundOutcome(
            round_id=self.plan.round_id,
            closed=closed,
            close_reason=self._close_reason,
            closed_at=self._closed_at,
            quorum=self.plan.quorum,
            quorum_met=len(self._accepted) >= self.plan.quorum,
            accepted=tuple(self._accepted),
            rejected=dict(self._rejected),
            late=tuple(self._late),
            missing=_sorted(c for c in self.plan.assigned if not self._replied(c)),
            unassigned=tuple(self._unassigned),
        )


def _sorted(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(ids))


__all__ = [
    "DEFAULT_QUORUM_FRAC",
    "DEFAULT_ROUND_DEADLINE_S",
    "Clock",
    "CloseReason",
    "ReplyStatus",
    "RoundOutcome",
    "RoundPlan",
    "RoundState",
]
