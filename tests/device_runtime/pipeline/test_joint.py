"""Joint inference in the pipeline without a gateway: unsure tracks become (privacy-filtered) samples,
and counted tracks the edge model is sure of become pseudo-labelled samples (rate-limited)."""

from __future__ import annotations

import numpy as np

from device_runtime.config import CameraConfig, PrivacyConfig
from device_runtime.pipeline import CameraPipeline, PrivacyFilter
from device_runtime.pipeline.joint import PseudoLabels, RateLimit
from device_runtime.samples import SampleStore

from .conftest import LABELS, ColourEngine
from .test_pipeline import LANES, traffic


class UnsureEngine(ColourEngine):
    """Like ColourEngine, but never more than 45 % sure."""

    def classify(self, batch: np.ndarray) -> np.ndarray:
        probs = super().classify(batch)
        probs[probs > 0.5] = 0.45
        return probs


def run(engine, manifest, tmp_path, *, privacy: bool = True, pseudo: PseudoLabels | None = None):
    store = SampleStore(tmp_path / "samples.sqlite3")
    cam = CameraConfig(id="cam-j", source="test", lanes=LANES)
    pipe = CameraPipeline(cam, engine, manifest, privacy=PrivacyFilter(PrivacyConfig()) if privacy else None,
                          samples=store, pseudo_labels=pseudo)
    try:
        events = [e for f in traffic() for e in pipe.process(f).events] + pipe.finish()
        return events, store.rows(), pipe
    finally:
        store.close()


def test_unsure_tracks_leave_one_edge_labelled_sample_each(manifest, tmp_path):
    events, rows, pipe = run(UnsureEngine(), manifest, tmp_path)
    counted = {e.track_id for e in events if e.kind == "count"}
    assert len(counted) == 2
    assert {s.track_id for s, _ in rows} >= counted
    assert len(rows) == len({s.track_id for s, _ in rows})  # one per track
    assert all(s.label_source == "edge" and s.label in LABELS and s.reason == "no-estimate" for s, _ in rows)
    assert all(s.model_version == manifest.version and s.confidence < 0.6 for s, _ in rows)
    assert all(img.ndim == 3 and img.shape[2] == 3 for _, img in rows)
    assert pipe.privacy is not None and pipe.privacy.stats.released >= len(rows)
    assert all(e.model == "edge" for e in events if e.kind == "count")


def test_confident_tracks_keep_nothing(engine, manifest, tmp_path):
    _, rows, _ = run(engine, manifest, tmp_path)
    assert rows == []


def test_without_a_privacy_filter_nothing_is_kept(manifest, tmp_path):
    _, rows, _ = run(UnsureEngine(), manifest, tmp_path, privacy=False)
    assert rows == []


class Clock:
    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_counted_sure_tracks_become_one_pseudo_labelled_sample_each(engine, manifest, tmp_path):
    events, rows, pipe = run(engine, manifest, tmp_path, pseudo=PseudoLabels(0.85, 10, Clock()))
    counted = {e.track_id: e for e in events if e.kind == "count"}
    assert len(counted) == 2 and len(rows) == 2
    for s, img in rows:
        assert s.label_source == "pseudo" and s.reason == "pseudo-label" and s.track_id in counted
        assert s.label == counted[s.track_id].cls and s.confidence >= 0.85
        assert s.model_version == manifest.version and img.ndim == 3 and min(img.shape[:2]) >= 20
    assert {s.label for s, _ in rows} == {"car", "bus"}
    assert pipe.privacy is not None and pipe.privacy.stats.released == 2  # through the privacy filter


def test_pseudo_labels_are_rate_limited_per_minute(engine, manifest, tmp_path):
    _, rows, _ = run(engine, manifest, tmp_path, pseudo=PseudoLabels(0.85, 1, Clock()))
    assert len(rows) == 1  # both cross within the same minute


def test_pseudo_labels_need_the_threshold_a_filter_and_a_rate(engine, manifest, tmp_path):
    for sub in "abc":
        (tmp_path / sub).mkdir()
    assert run(engine, manifest, tmp_path / "a", pseudo=PseudoLabels(0.95, 10, Clock()))[1] == []
    assert run(engine, manifest, tmp_path / "b", pseudo=PseudoLabels(0.85, 0, Clock()))[1] == []
    assert run(engine, manifest, tmp_path / "c", privacy=False, pseudo=PseudoLabels(0.85, 10, Clock()))[1] == []


def test_unsure_tracks_are_not_pseudo_labelled(manifest, tmp_path):
    _, rows, _ = run(UnsureEngine(), manifest, tmp_path, pseudo=PseudoLabels(0.4, 10, Clock()))
    assert rows and all(s.label_source == "edge" for s, _ in rows)  # one sample per track, the edge one


def test_rate_limit_slides_over_the_minute():
    clock = Clock()
    rate = RateLimit(2, clock)
    for t, ready in [(0.0, True), (1.0, True), (30.0, False), (60.0, True), (61.0, True), (62.0, False)]:
        clock.now = t - clock.step
        assert rate.ready() is ready, t
        if ready:
            rate.take()
