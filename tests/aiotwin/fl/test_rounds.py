"""Deadline + quorum round bookkeeping, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotwin.fl import (
    AggregationConfig,
    CloseReason,
    FlConfigError,
    ReplyStatus,
    RoundPlan,
    RoundState,
    aggregate,
)
from tests.aiotwin.fl.helpers import FakeClock, model, update

CLIENTS = frozenset(f"c{i}" for i in range(5))


def start(
    assigned: Iterable[str] = CLIENTS, quorum_frac: float = 0.6, deadline_s: float = 60.0, version: str = "v1",
) -> tuple[RoundState, FakeClock]:
    clock = FakeClock()
    plan = RoundPlan(round_id=3, base_version=version, assigned=frozenset(assigned), quorum_frac=quorum_frac,
                     deadline_s=deadline_s)
    return RoundState(plan, clock=clock), clock


# -- plan ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quorum_frac": 0.0}, r"quorum-frac must be in \(0, 1\]; got 0.0"),
        ({"quorum_frac": 1.01}, "quorum-frac"),
        ({"quorum_frac": float("nan")}, "quorum-frac"),
        ({"deadline_s": 0.0}, "deadline-s must be a finite number > 0; got 0.0"),
        ({"deadline_s": -5}, "deadline-s"),
        ({"deadline_s": float("inf")}, "deadline-s"),
        ({"assigned": frozenset()}, "assigned must name at least one client"),
        ({"assigned": frozenset({""})}, "each a non-empty string"),
        ({"round_id": -1}, "round-id must be an integer ≥ 0"),
        ({"base_version": ""}, "base-version must be a non-empty string"),
    ],
)
def test_plan_rejects_bad_values(kwargs, match):
    args = {"round_id": 0, "base_version": "v1", "assigned": CLIENTS, **kwargs}
    with pytest.raises(FlConfigError, match=match):
        RoundPlan(**args)


def test_plan_reports_every_problem_at_once():
    with pytest.raises(FlConfigError) as info:
        RoundPlan(round_id=0, base_version="v1", assigned=CLIENTS, quorum_frac=2.0, deadline_s=-1.0)
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    ("n", "frac", "quorum"),
    [(10, 0.6, 6), (5, 0.6, 3), (10, 0.7, 7), (3, 0.7, 3), (1, 0.6, 1), (3, 1.0, 3), (3, 0.01, 1), (7, 0.5, 4)],
)
def test_quorum_is_the_ceiling_of_frac_times_assigned(n, frac, quorum):
    plan = RoundPlan(round_id=0, base_version="v1", assigned=frozenset(f"c{i}" for i in range(n)), quorum_frac=frac)
    assert plan.quorum == quorum


def test_plan_defaults_follow_the_issue():
    plan = RoundPlan(round_id=0, base_version="v1", assigned=CLIENTS)
    assert plan.quorum_frac == 0.6
    assert plan.deadline_s > 0


# -- closing -------------------------------------------------------------------------------------


def test_the_round_closes_as_soon_as_every_assigned_client_replied():
    state, clock = start()
    for i, cid in enumerate(sorted(CLIENTS)):
        assert not state.is_closed()
        clock.advance(1.0)
        assert state.record_reply(update(cid, float(i))) is ReplyStatus.ACCEPTED
    out = state.outcome()
    assert out.closed
    assert out.close_reason is CloseReason.ALL_REPLIED
    assert out.closed_at == clock.t
    assert out.quorum_met
    assert out.accepted == tuple(sorted(CLIENTS))
    assert (out.late, out.missing, out.rejected) == ((), (), {})
    assert state.remaining_s() == 0.0


def test_the_deadline_closes_the_round_and_records_missing_and_late_clients():
    state, clock = start()
    t0 = clock.t
    for cid in ("c0", "c1", "c2"):
        clock.advance(10.0)
        state.record_reply(update(cid))
    assert state.remaining_s() == pytest.approx(30.0)
    clock.advance(30.0)  # exactly at the deadline: closed
    assert state.is_closed()
    clock.advance(5.0)
    assert state.record_reply(update("c3")) is ReplyStatus.LATE
    out = state.outcome()
    assert out.close_reason is CloseReason.DEADLINE
    assert out.closed_at == t0 + 60.0  # the deadline's time, not when it was noticed
    assert out.accepted == ("c0", "c1", "c2")
    assert out.late == ("c3",)
    assert out.missing == ("c4",)
    assert out.quorum == 3
    assert out.quorum_met
    assert [u.client_id for u in state.updates()] == ["c0", "c1", "c2"]  # the late reply is not used
    assert state.arrivals()["c3"] == t0 + 65.0


def test_a_round_below_quorum_at_the_deadline_fails():
    state, clock = start()
    state.record_reply(update("c0"))
    state.record_reply(update("c1"))
    clock.advance(61.0)
    out = state.outcome()
    assert out.closed
    assert not out.quorum_met
    assert out.missing == ("c2", "c3", "c4")


def test_close_is_explicit_and_idempotent():
    state, clock = start()
    state.record_reply(update("c0"))
    clock.advance(5.0)
    out = state.close()
    assert (out.close_reason, out.closed_at) == (CloseReason.CLOSED, clock.t)
    clock.advance(100.0)
    assert state.close() == out
    assert state.record_reply(update("c1")) is ReplyStatus.LATE


# -- reply triage --------------------------------------------------------------------------------


def test_an_update_for_another_base_version_is_rejected_on_arrival():
    state, _ = start()
    assert state.record_reply(update("c0", version="v0")) is ReplyStatus.REJECTED
    out = state.outcome()
    assert out.rejected == {"c0": "trained on base version 'v0', this round aggregates 'v1'"}
    assert out.accepted == ()


def test_the_first_reply_of_a_client_counts_and_later_ones_are_duplicates():
    state, _ = start()
    assert state.record_reply(update("c0", 1.0)) is ReplyStatus.ACCEPTED
    assert state.record_reply(update("c0", 99.0)) is ReplyStatus.DUPLICATE
    assert state.record_rejected("c0", "garbage") is ReplyStatus.REJECTED  # revoking is allowed
    assert state.record_rejected("c0", "again") is ReplyStatus.DUPLICATE
    assert state.outcome().rejected == {"c0": "garbage"}


def test_a_reply_from_an_unassigned_client_is_recorded_and_ignored():
    state, _ = start()
    assert state.record_reply(update("stranger")) is ReplyStatus.UNASSIGNED
    assert state.record_rejected("stranger2", "bad bytes") is ReplyStatus.UNASSIGNED
    out = state.outcome()
    assert out.unassigned == ("stranger", "stranger2")
    assert out.accepted == ()
    assert state.updates() == []


def test_rejected_replies_count_as_replied_for_closing_but_not_for_the_quorum():
    state, _ = start(quorum_frac=0.6)
    state.record_reply(update("c0"))
    state.record_reply(update("c1"))
    state.record_rejected("c2", "undecodable: truncated")
    state.record_reply(update("c3", version="v0"))
    assert state.record_rejected("c4", "NaN in payload") is ReplyStatus.REJECTED
    out = state.outcome()
    assert out.close_reason is CloseReason.ALL_REPLIED
    assert not out.quorum_met
    assert set(out.rejected) == {"c2", "c3", "c4"}


def test_a_rejected_reply_after_the_close_is_late():
    state, clock = start()
    clock.advance(60.0)
    assert state.record_rejected("c0", "bad") is ReplyStatus.LATE
    assert state.outcome().late == ("c0",)


def test_aggregation_rejections_recorded_after_the_close_can_break_the_quorum():
    state, _ = start(assigned={"a", "b", "c"}, quorum_frac=1.0)
    state.record_reply(update("a", 1.0))
    state.record_reply(update("b", 2.0))
    state.record_reply(update("c", shapes=[(2,)]))  # wrong shape: only aggregation notices
    assert state.outcome().quorum_met
    result = aggregate(model(0.0), state.updates(), AggregationConfig(), base_version=state.plan.base_version)
    state.record_rejected_many(result.rejected)
    out = state.outcome()
    assert out.rejected == {"c": "delta has 1 arrays, the model has 3"}
    assert not out.quorum_met
    assert out.accepted == ("a", "b") == result.used


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 8),
    frac=st.floats(0.05, 1.0),
    events=st.lists(st.tuples(st.integers(0, 9), st.floats(0, 30), st.sampled_from(["ok", "old", "bad"])),
                    max_size=15),
)
def test_every_assigned_client_ends_in_exactly_one_bucket(n, frac, events):
    assigned = {f"c{i}" for i in range(n)}
    state, clock = start(assigned=assigned, quorum_frac=frac, deadline_s=60.0)
    t0 = clock.t
    for who, dt, kind in events:
        clock.advance(dt)
        cid = f"c{who}"
        if kind == "bad":
            state.record_rejected(cid, "bad")
        else:
            state.record_reply(update(cid, version="v1" if kind == "ok" else "v0"))
    out = state.outcome()
    buckets = [set(out.accepted), set(out.rejected), set(out.late), set(out.missing)]
    assert set().union(*buckets) == assigned
    assert sum(len(b) for b in buckets) == n
    assert out.quorum_met == (len(out.accepted) >= state.plan.quorum)
    assert all(state.arrivals()[c] < t0 + 60.0 for c in out.accepted)
    if out.late:
        assert out.closed_at is not None
        assert all(state.arrivals()[c] >= out.closed_at for c in out.late)
    assert set(out.unassigned).isdisjoint(assigned)
