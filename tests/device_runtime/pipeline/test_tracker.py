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


# -- direction consistency: road users do not reverse ------------------------------------------------


def clip(b, w=640, h=360):
    b = (max(0.0, b[0]), max(0.0, b[1]), min(w, b[2]), min(h, b[3]))
    return b if b[2] - b[0] > 2 and b[3] - b[1] > 2 else None


def blobs(boxes):
    """What motion detection sees: overlapping boxes are one blob."""
    out = []
    for b in (b for b in boxes if b is not None):
        for i, o in enumerate(out):
            if not (b[2] < o[0] or b[0] > o[2] or b[3] < o[1] or b[1] > o[3]):
                out[i] = (min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3]))
                break
        else:
            out.append(b)
    return out


def test_a_vehicle_entering_where_another_left_gets_a_new_id():
    # A drives left out of the picture; B enters at the same edge, driving right, while A is leaving.
    tracker = Tracker(TrackerConfig(), frame_size=(640, 360))
    for i in range(70):
        a, b = clip(box(200 - 8 * i, 200, 60)), clip(box(-30 + 8 * (i - 28), 212, 60)) if i >= 28 else None
        tracks = tracker.update(blobs([a, b]))
        if i == 10:
            (a_id,) = [t.id for t in tracks]
    (b_track,) = tracks
    assert b_track.id != a_id and b_track.vx > 0


@pytest.mark.parametrize(
    ("passer_w", "passer_v", "dy", "stopped_w"),
    [(60, 6, 8, 60), (120, 12, 0, 120), (220, 3, 16, 60), (60, 12, 0, 120), (220, 6, 0, 120)],
)
def test_vehicles_passing_a_stopped_one_keep_their_ids(passer_w, passer_v, dy, stopped_w):
    # S drives right and stops; P drives left past it (their blobs merge while they overlap).
    tracker = Tracker(TrackerConfig(), frame_size=(640, 360))
    ids_s, ids_p = set(), set()
    for i in range(150):
        sx, px = 100 + 5 * min(i, 20), 640 + passer_w / 2 - passer_v * i
        s, p = box(sx, 200, stopped_w, 40), clip(box(px, 200 + dy, passer_w, 40))
        tracks = tracker.update(blobs([s, p]))
        if p is not None and len(blobs([s, p])) < 2:
            continue  # while they are one blob, who is where is the tracker's guess
        for t in tracks:
            if t.confirmed and t.state == "observed":
                (ids_s if abs(t.center[0] - sx) < abs(t.center[0] - px) else ids_p).add(t.id)
    assert len(ids_s) == 1 and len(ids_p) == 1 and ids_s != ids_p


def test_backward_blobs_are_refused_within_a_tolerance():
    from device_runtime.pipeline.tracker import Track, backward_px, moves_backward

    track = Track(id=1, box=box(100, 100, 40, 30), heading=(1.0, 0.0), peak=(110.0, 100.0))
    assert backward_px(track, (120.0, 130.0)) == 0.0  # ahead (and across) is never backwards
    assert backward_px(track, (90.0, 100.0)) == pytest.approx(20.0)
    assert not moves_backward(track, box(104, 100, 40, 30))  # 6 px back: blob jitter
    assert moves_backward(track, box(95, 100, 40, 30))  # 15 px back: more than max(8, 0.25 × 40)
    assert not moves_backward(Track(id=2, box=box(100, 100)), box(0, 100))  # no heading yet: no rule


def test_heading_survives_a_stop_and_a_backward_drift_of_its_blob():
    # A long vehicle stops; its blob then stretches backwards (a vehicle joining it from behind).
    tracker = Tracker(TrackerConfig(), frame_size=(640, 360))
    xs = [100 + 6 * i for i in range(20)] + [220] * 30 + [220 - 1.5 * i for i in range(25)]
    for x in xs:
        (track,) = tracker.update([box(x, 200, 200, 60)])
    assert track.vx < -1.0  # it follows its blob (within the tolerance) ...
    assert track.heading == pytest.approx((1.0, 0.0))  # ... but still drives forwards
