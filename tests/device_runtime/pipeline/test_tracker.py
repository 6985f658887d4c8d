"""Tracker: identity through occlusion, merges and splits, min_hits, coasting (table-driven)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from device_runtime.config import TrackerConfig
from device_runtime.pipeline.tracker import Tracker, coverage, greedy_pairs, pair_score


def box(cx: float, cy: float, w: float = 40, h: float = 30) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@dataclass(frozen=True)
class Snap:
    id: int
    confirmed: bool
    state: str
    center: tuple[float, float]


def ids_of(tracks, confirmed_only=True):
    return sorted(t.id for t in tracks if t.confirmed or not confirmed_only)


def run(frames, cfg=None):
    """Feed frames of boxes; return the tracker and a snapshot of its tracks after each frame."""
    tracker = Tracker(cfg or TrackerConfig(), frame_size=(1280, 720))
    out = [[Snap(t.id, t.confirmed, t.state, t.center) for t in tracker.update(dets)] for dets in frames]
    return tracker, out


def test_steady_object_keeps_one_id():
    _, out = run([[box(100 + 8 * i, 200)] for i in range(40)])
    assert {t.id for ts in out for t in ts} == {1}
    assert out[-1][0].confirmed


@pytest.mark.parametrize("gap", [1, 5, 15])
def test_identity_survives_an_occlusion_of_up_to_15_frames(gap):
    frames = [[box(100 + 8 * i, 200)] if not 20 <= i < 20 + gap else [] for i in range(60)]
    _, out = run(frames)
    assert {t.id for ts in out for t in ts} == {1}
    assert out[-1][0].state == "observed"


def test_car_behind_a_bus_keeps_its_id():
    # Car drives right at 8 px/frame; a bus blob moving left covers it for 15 frames.
    frames = []
    for i in range(60):
        car = box(100 + 8 * i, 300)
        bus = box(700 - 6 * i, 300, 220, 90)
        hidden = coverage(car, bus) > 0.3
        frames.append([bus] if hidden else [car, bus])
    assert sum(1 for f in frames if len(f) == 1) >= 10
    _, out = run(frames)
    assert {t.id for ts in out for t in ts} == {1, 2}


def test_merge_then_split_keeps_both_ids():
    # Two cars side by side merge into one blob for 10 frames, then separate again.
    frames = []
    for i in range(50):
        a, b = box(200 + 6 * i, 200), box(200 + 6 * i, 245)
        frames.append([(a[0], a[1], b[2], b[3])] if 15 <= i < 25 else [a, b])
    _, out = run(frames)
    assert {t.id for ts in out for t in ts} == {1, 2}
    last = {t.id: t.center for t in out[-1]}
    assert last[1][1] < last[2][1]  # ids did not swap


def test_a_single_spurious_blob_never_confirms():
    frames = [[box(100 + 8 * i, 200)] for i in range(10)]
    frames[4] = [*frames[4], box(900, 600)]
    _, out = run(frames)
    assert all(ids_of(ts) == [1] for ts in out[1:])


@pytest.mark.parametrize(("min_hits", "confirmed_at"), [(1, 0), (2, 1), (4, 3)])
def test_min_hits(min_hits, confirmed_at):
    _, out = run([[box(100 + 8 * i, 200)] for i in range(6)], TrackerConfig(min_hits=min_hits))
    first = next(i for i, ts in enumerate(out) if ts and ts[0].confirmed)
    assert first == confirmed_at


def test_lost_track_is_dropped_after_max_missed_frames():
    tracker = Tracker(TrackerConfig(max_missed_frames=5))
    for i in range(5):
        tracker.update([box(100 + 8 * i, 200)])
    alive = [len(tracker.update([])) for _ in range(8)]
    assert alive == [1, 1, 1, 1, 1, 0, 0, 0]


def test_track_coasting_out_of_the_frame_is_dropped():
    tracker = Tracker(TrackerConfig(), frame_size=(300, 300))
    for i in range(10):
        tracker.update([box(200 + 10 * i, 150)])
    assert [len(tracker.update([])) for _ in range(6)][-1] == 0


def test_pairing_helpers():
    assert pair_score(box(100, 100), box(100, 100), 0.2) == pytest.approx(1.5)
    assert pair_score(box(100, 100), box(400, 100), 0.2) == 0.0
    assert greedy_pairs({(0, 0): 0.9, (0, 1): 0.8, (1, 0): 0.85}) == {0: 0}
    assert greedy_pairs({(0, 0): 0.9, (1, 0): 0.85, (1, 1): 0.3}) == {0: 0, 1: 1}
    assert coverage((0, 0, 10, 10), (5, 0, 20, 10)) == pytest.approx(0.5)
