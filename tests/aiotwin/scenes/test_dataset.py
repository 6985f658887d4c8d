from __future__ import annotations

import numpy as np
import pytest

from aiotwin._exceptions import SceneError
from aiotwin.labels import CLASS_INDEX
from aiotwin.scenes import crop_dataset


def test_shapes_labels_and_determinism():
    x, y = crop_dataset(["downtown"], [1, 2], per_camera=40, size=32)
    assert x.shape == (40, 32, 32, 3)
    assert x.dtype == np.uint8
    assert y.dtype == np.int64
    allowed = {CLASS_INDEX[c] for c in ("car", "bus", "bicycle", "pedestrian")}
    assert set(y.tolist()) <= allowed
    x2, y2 = crop_dataset(["downtown"], [1, 2], per_camera=40, size=32)
    assert np.array_equal(x, x2)
    assert np.array_equal(y, y2)


def test_balanced_per_camera_and_mixes_differ():
    _, y = crop_dataset(["campus", "highway"], [3], per_camera=60, size=16)
    campus, highway = np.bincount(y[:60], minlength=6), np.bincount(y[60:], minlength=6)
    assert campus[CLASS_INDEX["bicycle"]] > 0
    assert campus[CLASS_INDEX["pedestrian"]] > 0
    assert highway[CLASS_INDEX["truck"]] > 0
    assert campus[CLASS_INDEX["truck"]] == 0
    assert highway[CLASS_INDEX["pedestrian"]] == 0
    # capped per class: the common class does not swamp the others when they are available
    assert highway[CLASS_INDEX["car"]] <= 40


def test_crops_are_rgb():
    spec_x, _ = crop_dataset(["bridge"], [0], per_camera=6, size=16, lighting="day", weather="clear")
    assert spec_x.shape == (6, 16, 16, 3)


def test_mixed_conditions_and_bad_arguments():
    x, _ = crop_dataset(["residential"], [4], per_camera=5, size=16, lighting="mixed", weather="mixed")
    assert len(x) == 5
    with pytest.raises(SceneError):
        crop_dataset(["residential"], [], per_camera=5)
    with pytest.raises(SceneError):
        crop_dataset(["residential"], [1], per_camera=5, lighting="noon")
