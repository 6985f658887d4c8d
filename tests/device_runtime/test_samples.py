"""The sample store: bounded, PNG round trip, arrays for training, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from device_runtime._exceptions import SampleStoreError
from device_runtime.samples import Sample, SampleStore

LABELS = ["car", "bus", "truck"]


def crop(value: int, h: int = 20, w: int = 30) -> np.ndarray:
    img = np.full((h, w, 3), value, np.uint8)
    img[:, :, 0] = 255 - value  # B differs from R: a BGR/RGB mix-up shows
    return img


def sample(label: str | None, source: str = "edge", track: int = 1) -> Sample:
    return Sample("cam-1", track, label, source, 0.4, "no-estimate", 2)  # type: ignore[arg-type]


def test_round_trip_bound_and_arrays(tmp_path) -> None:
    store = SampleStore(tmp_path / "s.sqlite3", max_samples=3)
    try:
        for i, label in enumerate(["car", "bus", "truck", "car"]):
            store.add(crop(10 * i), sample(label, "offload" if i % 2 else "edge", track=i))
        assert store.count() == 3 and store.evicted == 1  # the oldest went
        rows = store.rows()
        assert [s.track_id for s, _ in rows] == [1, 2, 3]
        np.testing.assert_array_equal(rows[0][1], crop(10))  # PNG is lossless
        assert store.count("offload") == 2
        x, y = store.arrays(LABELS, (16, 16))
        assert x.shape == (3, 16, 16, 3) and x.dtype == np.uint8
        assert y.tolist() == [1, 2, 0]
        assert x[0, 0, 0].tolist() == [10, 10, 245]  # RGB out of BGR in
        x2, y2 = store.arrays(LABELS, (16, 16), label_source="offload")
        assert len(x2) == 2 and y2.tolist() == [1, 0]
    finally:
        store.close()


def test_unlabelled_and_unknown_labels_are_not_training_data(tmp_path) -> None:
    store = SampleStore(tmp_path / "s.sqlite3")
    try:
        store.add(crop(5), sample(None))
        store.add(crop(6), sample("tractor"))
        x, y = store.arrays(LABELS, (8, 8))
        assert x.shape == (0, 8, 8, 3) and y.shape == (0,)
        assert store.count() == 2
    finally:
        store.close()


def test_one_writer_process_and_corrupt_files_are_clear_errors(tmp_path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SampleStore(path)
    try:
        with pytest.raises(SampleStoreError, match="in use by another process"):
            SampleStore(path)
    finally:
        store.close()
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SampleStoreError, match="not an SQLite database"):
        SampleStore(bad)
    with pytest.raises(SampleStoreError, match="max_samples"):
        SampleStore(tmp_path / "x.sqlite3", max_samples=0)


def test_a_reader_beside_the_writer_sees_labelled_samples_and_cannot_write(tmp_path) -> None:
    path = tmp_path / "s.sqlite3"
    with pytest.raises(SampleStoreError, match="no sample store"):
        SampleStore(path, readonly=True)
    writer = SampleStore(path)
    try:
        writer.add(crop(40), sample("bus"))
        writer.add(crop(50), sample(None))
        reader = SampleStore(path, readonly=True)  # while the writer holds its lock
        try:
            _, y = reader.arrays(LABELS, (8, 8))
            assert y.tolist() == [1] and len(reader.rows()) == 2 and len(reader.rows(labelled=True)) == 1
            with pytest.raises(SampleStoreError, match="read-only"):
                reader.add(crop(1), sample("car"))
        finally:
            reader.close()
    finally:
        writer.close()
