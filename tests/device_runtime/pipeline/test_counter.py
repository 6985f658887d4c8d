"""Line counter: once per line, confirm frames, direction, segment, lanes, class delay (table-driven)."""

from __future__ import annotations

import pytest

from aiotwin.geometry import side_of_line
from device_runtime.config import CountingConfig, Zone
from device_runtime.pipeline.counter import (
    EventMeta,
    LineCounter,
    TrackObservation,
    line_intersection,
    point_in_polygon,
)

LINE = (0.0, 100.0, 200.0, 100.0)  # y grows downwards: below the line is the positive side
META = EventMeta("cam-a", "stop", 3, "onnx-fp32")
CLASSES = ("car", "bus", "truck")
TS = "2026-01-01T00:00:00.000Z"


def counter(confirm=3, margin=30.0, lanes=()):
    return LineCounter(LINE, CountingConfig(confirm_frames=confirm, line_margin_px=margin), META, CLASSES, lanes)


def feed(c, ys, x=100.0, tid=1, cls="car", finish=True):
    events = []
    for y in ys:
        events += c.update([TrackObservation(tid, (x, y), True, cls, 0.9)], TS)
    if finish:
        events += c.finish(TS)
    return events


def test_geometry_convention_below_is_positive():
    assert side_of_line(LINE, (100, 150)) > 0


DOWN = [40, 60, 80, 95, 105, 120, 140, 160]
UP = list(reversed(DOWN))


@pytest.mark.parametrize(
    ("name", "ys", "expected"),
    [
        ("clean crossing downwards", DOWN, ["out"]),
        ("clean crossing upwards", UP, ["in"]),
        ("box flicker on the line", [60, 80, 98, 102, 98, 103, 97, 104, 99, 101, 96, 102, 130, 150, 170], ["out"]),
        ("stop and go on the line", [60, 90, 99, 101, 101, 99, 101, 101, 99, 99, 101, 110, 130, 150], ["out"]),
        ("stops just past the line for a long time", [60, 90, 101, *[102] * 40, 130, 150], ["out"]),
        ("crosses and comes back before confirming", [60, 90, 105, 110, 95, 80, 60], []),
        ("crosses, confirms, then reverses", [60, 90, 105, 110, 120, 130, 110, 95, 80, 60, 40], ["out"]),
        ("never reaches the line", [20, 40, 60, 80, 90, 95], []),
        ("starts on the line", [100, 100, 105, 120, 140, 160], []),
        ("ends before confirming", [60, 80, 95, 105, 110], []),
        ("ends exactly at confirmation", [60, 80, 95, 105, 110, 115], ["out"]),
    ],
)
def test_counts_once_and_only_when_confirmed(name, ys, expected):
    events = feed(counter(), ys)
    assert [e.direction for e in events] == expected, name


@pytest.mark.parametrize("confirm", [1, 2, 5])
def test_confirm_frames_is_respected(confirm):
    ys = [60, 80, 95, *[105 + i for i in range(confirm)]]
    assert len(feed(counter(confirm), ys)) == 1
    assert len(feed(counter(confirm), ys[:-1])) == 0


def test_coasting_frames_neither_confirm_nor_cancel():
    c = counter()
    ev = []
    for y, visible in [(60, True), (95, True), (105, True), (110, False), (115, False), (120, False)]:
        ev += c.update([TrackObservation(1, (100, y), visible, "car", 0.9)], TS)
    assert ev == []
    ev += c.update([TrackObservation(1, (100, 125), True, "car", 0.9)], TS)
    ev += c.update([TrackObservation(1, (100, 130), True, "car", 0.9)], TS)
    assert [e.direction for e in ev] == ["out"]


@pytest.mark.parametrize(
    ("x", "margin", "counted"),
    [(100, 30, True), (-20, 30, True), (220, 30, True), (-40, 30, False), (260, 30, False), (210, 0, False)],
)
def test_only_within_the_segment_plus_margin(x, margin, counted):
    assert bool(feed(counter(margin=margin), DOWN, x=x)) is counted


def test_crossing_point_is_interpolated_on_the_path():
    assert line_intersection(LINE, (0, 50), (100, 150)) == pytest.approx((50, 100))


LANES = (
    Zone([(0, 0), (100, 0), (100, 200), (0, 200)], id="left"),
    Zone([(100, 0), (200, 0), (200, 200), (100, 200)], id="right"),
)


@pytest.mark.parametrize(("x", "lane"), [(50, "left"), (150, "right"), (230, None)])
def test_lane_is_the_polygon_containing_the_crossing(x, lane):
    events = feed(counter(lanes=LANES), DOWN, x=x)
    assert [e.lane for e in events] == [lane]


def test_lane_uses_the_crossing_point_not_the_last_anchor():
    c = counter(lanes=LANES)
    path = [(50, 60), (70, 90), (110, 110), (150, 130), (170, 150), (190, 170)]  # changes lane after the line
    ev = []
    for p in path:
        ev += c.update([TrackObservation(1, p, True, "bus", 0.8)], TS)
    assert [(e.lane, e.cls) for e in ev] == [("left", "bus")]


def test_event_fields_and_counts():
    c = counter()
    (event,) = feed(c, DOWN, tid=7, cls="truck")
    assert (event.camera_id, event.line_id, event.track_id, event.cls, event.model) == (
        "cam-a", "stop", 7, "truck", "edge")
    assert (event.model_version, event.variant, event.ts, event.confidence) == (3, "onnx-fp32", TS, 0.9)
    assert c.counts == {"car": {"in": 0, "out": 0}, "bus": {"in": 0, "out": 0}, "truck": {"in": 0, "out": 1}}


def test_count_waits_for_a_class():
    c = counter()
    ev = feed(c, DOWN, cls=None, finish=False)
    assert ev == []
    ev = c.update([TrackObservation(1, (100, 170), True, "bus", 0.7)], TS)
    assert [(e.cls, e.direction) for e in ev] == [("bus", "out")]


def test_track_that_vanishes_unclassified_still_counts():
    c = counter()
    feed(c, DOWN, cls=None, finish=False)
    ev = c.update([], TS)
    assert [(e.cls, e.confidence) for e in ev] == [("car", 0.0)]


def test_the_class_is_the_one_at_counting_time():
    c = counter()
    ev = []
    for y, cls in zip(DOWN, ["car"] * 7 + ["truck"], strict=True):
        ev += c.update([TrackObservation(1, (100, y), True, cls, 0.9)], TS)
    assert [e.cls for e in ev] == ["car"]


def test_many_tracks_both_directions():
    c = counter()
    ev = []
    for a, b in zip(DOWN, UP, strict=True):
        ev += c.update([TrackObservation(1, (50, a), True, "car", 0.9),
                        TrackObservation(2, (150, b), True, "bus", 0.8)], TS)
    assert sorted((e.track_id, e.direction) for e in ev) == [(1, "out"), (2, "in")]
    assert c.counts["car"]["out"] == 1 and c.counts["bus"]["in"] == 1


@pytest.mark.parametrize(("pt", "inside"), [((5, 5), True), ((15, 5), False), ((-1, 5), False)])
def test_point_in_polygon(pt, inside):
    assert point_in_polygon(pt, [(0, 0), (10, 0), (10, 10), (0, 10)]) is inside


@pytest.mark.parametrize(
    ("ys", "expected"),
    [
        ([60, 90, 105], ["out"]),  # left the picture just past the line: the vehicle passed
        ([60, 90, 105, 95], []),  # came back before vanishing
        ([60, 90], []),
    ],
)
def test_a_track_that_vanishes_past_the_line_confirms_its_crossing(ys, expected):
    c = counter()
    ev = feed(c, ys, finish=False)
    ev += c.update([], TS)
    assert [e.direction for e in ev] == expected


# -- a track re-used after an id swap: a real second passage counts the other way ---------------------

FAR_DOWN = [40, 60, 80, 95, 105, 120, 160, 210, 230, 260]  # out, then 160 px past the line
BACK_UP = [240, 200, 150, 110, 95, 80, 60, 40, 20, 10]


@pytest.mark.parametrize(
    ("name", "ys", "size", "expected"),
    [
        ("out, far past the line, back in", FAR_DOWN + BACK_UP, 0.0, ["out", "in"]),
        ("out, far, in, far, out again", [*FAR_DOWN, *BACK_UP, -20, *FAR_DOWN[2:]], 0.0, ["out", "in", "out"]),
        ("out, not far enough, back in", [40, 60, 80, 95, 105, 120, 150, 170, *BACK_UP[2:]], 0.0, ["out"]),
        ("a big box must go further", FAR_DOWN + BACK_UP, 120.0, ["out"]),  # 1.5 × 120 px > 160 px
        ("out, far past, stays: never twice the same way", [*FAR_DOWN, 250, 240, 260], 0.0, ["out"]),
    ],
)
def test_a_track_counts_again_only_after_a_real_second_passage(name, ys, size, expected):
    c = counter()
    events = []
    for y in ys:
        events += c.update([TrackObservation(1, (100, y), True, "car", 0.9, size)], TS)
    events += c.finish(TS)
    assert [e.direction for e in events] == expected, name


def test_rearm_distance_grows_with_the_box():
    from device_runtime.pipeline.counter import REARM_MIN_PX, rearm_distance

    assert rearm_distance(0.0) == REARM_MIN_PX
    assert rearm_distance(400.0) == pytest.approx(600.0)
