"""Joint inference in the pipeline without a gateway: unsure tracks become (privacy-filtered) samples."""

from __future__ import annotations

import numpy as np

from device_runtime.config import CameraConfig, PrivacyConfig
from device_runtime.pipeline import CameraPipeline, PrivacyFilter
from device_runtime.samples import SampleStore

from .conftest import LABELS, ColourEngine
from .test_pipeline import LANES, traffic


class UnsureEngine(ColourEngine):
    """Like ColourEngine, but never more than 45 % sure."""

    def classify(self, batch: np.ndarray) -> np.ndarray:
        probs = super().classify(batch)
        probs[probs > 0.5] = 0.45
        return probs


def run(engine, manifest, tmp_path, *, privacy: bool = True):
    store = SampleStore(tmp_path / "samples.sqlite3")
    cam = CameraConfig(id="cam-j", source="test", lanes=LANES)
    pipe = CameraPipeline(cam, engine, manifest, privacy=PrivacyFilter(PrivacyConfig()) if privacy else None,
                          samples=store)
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
