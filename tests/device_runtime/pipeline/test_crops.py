"""Crops and the classification policy: one batched call, confidence-weighted votes, K-then-every-M."""

from __future__ import annotations

import numpy as np
import pytest

from aiotwin.bundle import InputSpec
from device_runtime.config import ClassifyConfig
from device_runtime.pipeline.crops import BORDER_WEIGHT, TrackClassifier, Vote, crop, padded, touches_border
from device_runtime.pipeline.tracker import Track

pytest.importorskip("cv2")
SPEC = InputSpec(32, 32)


def test_padded_box_is_clipped_to_the_frame():
    assert padded((10, 10, 30, 20), 0.5, 100, 100) == (0, 5, 40, 25)
    assert padded((90, 90, 100, 100), 0.1, 100, 100) == (89, 89, 100, 100)


def test_tiny_crops_are_skipped():
    frame = np.zeros((50, 50, 3), np.uint8)
    assert crop(frame, (10, 10, 12, 12), 0.0) is None
    assert crop(frame, (10, 10, 30, 20), 0.0).shape == (10, 20, 3)


@pytest.mark.parametrize(("box", "edge"), [((0, 10, 20, 20), True), ((10, 10, 20, 20), False),
                                           ((10, 10, 99, 20), True)])
def test_touches_border(box, edge):
    assert touches_border(box, 100, 100) is edge


def test_vote_is_confidence_weighted():
    v = Vote(np.zeros(3))
    v.add(np.array([0.9, 0.05, 0.05], np.float32), 1.0, 0, clear=True)  # confident car
    v.add(np.array([0.3, 0.4, 0.3], np.float32), 1.0, 1, clear=True)  # unsure bus
    v.add(np.array([0.35, 0.45, 0.2], np.float32), 1.0, 2, clear=True)  # unsure bus
    cls, conf = v.label()
    assert cls == 0 and 0.5 < conf < 0.7
    assert Vote(np.zeros(3)).label() is None


def test_border_crops_weigh_less():
    v = Vote(np.zeros(2))
    v.add(np.array([0.1, 0.9], np.float32), BORDER_WEIGHT, 0, clear=False)
    v.add(np.array([0.8, 0.2], np.float32), 1.0, 1, clear=True)
    assert v.label()[0] == 0


def test_policy_first_k_then_every_m():
    tc = TrackClassifier(ClassifyConfig(first_k=3, every_m=10), SPEC, 2)
    vote = Vote(np.zeros(2))
    asked = []
    for frame in range(40):
        if tc.wants(vote, True, frame):
            asked.append(frame)
            vote.add(np.array([1.0, 0.0], np.float32), 1.0, frame, clear=True)
    assert asked == [0, 1, 2, 12, 22, 32]


def test_border_crops_only_until_a_label_exists():
    tc = TrackClassifier(ClassifyConfig(first_k=3, every_m=5), SPEC, 2)
    assert tc.wants(None, False, 0)
    vote = Vote(np.zeros(2))
    vote.add(np.array([1.0, 0.0], np.float32), BORDER_WEIGHT, 0, clear=False)
    assert [f for f in range(12) if tc.wants(vote, False, f)] == [5, 6, 7, 8, 9, 10, 11]
    assert tc.wants(vote, True, 1)  # a clear view is always welcome until K clear crops


def _track(tid, det, state="observed"):
    return Track(id=tid, box=(0, 0, 1, 1), det=det, state=state, confirmed=True)


def test_prepare_batches_all_needed_crops_of_a_frame():
    frame = np.random.default_rng(0).integers(0, 256, (100, 200, 3), dtype=np.uint8)
    dets = [(10, 10, 50, 40), (100, 20, 150, 60), (60, 60, 90, 90)]
    tracks = [_track(1, 0), _track(2, 1), _track(3, 2, "merged"), _track(4, None, "coasting")]
    tc = TrackClassifier(ClassifyConfig(), SPEC, 3)
    batch = tc.prepare(frame, tracks, dets, 0)
    assert batch.track_ids == [1, 2] and batch.batch.shape == (2, 32, 32, 3)
    tc.apply(batch, np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]], np.float32), 0)
    assert tc.label(1)[0] == 1 and tc.label(2)[0] == 0 and tc.label(3) is None
    tc.forget({2})
    assert tc.label(1) is None and tc.label(2) is not None
