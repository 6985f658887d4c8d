from __future__ import annotations

from aiotwin.scenes._truth import CrossingCounter, zero_counts

LINE = (0.0, 100.0, 200.0, 100.0)  # horizontal: y < 100 is the negative side


def test_counter_counts_a_track_once_even_when_it_wobbles_on_the_line():
    counter = CrossingCounter(LINE)
    hits = [counter.update(1, "car", (50.0, y), "east") for y in (120, 110, 99, 101, 99.5, 100.5, 90, 80)]
    assert [h for h in hits if h] == [(1, "car", "in", "east")]
    assert counter.counts["car"] == {"in": 1, "out": 0}


def test_counter_directions_and_segment():
    counter = CrossingCounter(LINE)
    counter.update(1, "bus", (50.0, 80.0), None)
    assert counter.update(1, "bus", (50.0, 120.0), None) == (1, "bus", "out", None)
    counter.update(2, "car", (500.0, 120.0), None)
    assert counter.update(2, "car", (500.0, 80.0), None) is None  # beyond the segment's end
    assert counter.counts["car"] == {"in": 0, "out": 0}


def test_first_sighting_is_never_a_crossing_and_forget_resets_side():
    counter = CrossingCounter(LINE)
    assert counter.update(3, "car", (50.0, 80.0), None) is None
    counter.forget(3)
    assert counter.update(3, "car", (50.0, 120.0), None) is None


def test_zero_counts_cover_every_class():
    counts = zero_counts()
    assert set(counts) == {"car", "bus", "truck", "motorcycle", "bicycle", "pedestrian"}
    assert all(v == {"in": 0, "out": 0} for v in counts.values())
