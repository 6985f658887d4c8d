"""Motion stage: blobs of moving objects at full resolution, ROI and mask zones, min area."""

from __future__ import annotations

import pytest

from device_runtime.config import MotionConfig, Zone
from device_runtime.pipeline.motion import fold_fragments

from .conftest import scene

pytest.importorskip("cv2")
from device_runtime.pipeline.motion import MotionDetector

WHITE = (230, 230, 230)


def last_boxes(det, frames):
    out = []
    for f in frames:
        out = det.detect(f)
    return out


def moving(n=30, y=100, size=(40, 30)):
    return [scene([(20 + 6 * i, y, 20 + 6 * i + size[0], y + size[1], WHITE)]) for i in range(n)]


def test_moving_rectangle_gives_one_box_at_full_resolution():
    det = MotionDetector(MotionConfig(downscale=2))
    (box,) = last_boxes(det, [scene([])] * 10 + moving())
    x = 20 + 6 * 29
    assert box[0] == pytest.approx(x, abs=6) and box[2] == pytest.approx(x + 40, abs=6)
    assert box[1] == pytest.approx(100, abs=6) and box[3] == pytest.approx(130, abs=6)


def test_static_scene_gives_nothing():
    assert last_boxes(MotionDetector(MotionConfig()), [scene([])] * 20) == []


def test_min_area_filters_small_blobs():
    frames = [scene([])] * 10 + moving(size=(8, 8))
    assert last_boxes(MotionDetector(MotionConfig(min_area=400)), frames) == []


def test_mask_zone_hides_motion():
    zone = Zone([(0, 80), (320, 80), (320, 150), (0, 150)])
    det = MotionDetector(MotionConfig(), mask_zones=[zone])
    assert last_boxes(det, [scene([])] * 10 + moving()) == []


def test_roi_limits_motion():
    roi = Zone([(0, 0), (320, 0), (320, 60), (0, 60)])
    det = MotionDetector(MotionConfig(), roi=roi)
    assert last_boxes(det, [scene([])] * 10 + moving()) == []
    det = MotionDetector(MotionConfig(), roi=roi)
    assert len(last_boxes(det, [scene([])] * 10 + moving(y=10))) == 1


def test_fragments_fold_into_the_bigger_box():
    assert fold_fragments([(0, 0, 100, 50), (10, 10, 30, 30), (200, 0, 220, 20)]) == [
        (0, 0, 100, 50), (200, 0, 220, 20)]


def test_a_vehicle_of_the_roads_brightness_is_seen_by_its_colour():
    import cv2

    bg = scene([])
    grey = int(cv2.cvtColor(bg[:1, :1], cv2.COLOR_BGR2GRAY)[0, 0])
    green = (max(0, grey - 40), min(255, grey + 30), max(0, grey - 40))  # about the same luma
    frames = [bg] * 10 + [scene([(20 + 6 * i, 100, 80 + 6 * i, 140, green)]) for i in range(20)]
    assert len(last_boxes(MotionDetector(MotionConfig()), frames)) == 1


def test_a_stopped_vehicle_stays_foreground_for_seconds():
    still = scene([(150, 100, 200, 130, WHITE)])
    frames = [scene([])] * 10 + moving(n=20) + [still] * 100  # 4 s stopped at 25 fps
    assert len(last_boxes(MotionDetector(MotionConfig()), frames)) == 1
