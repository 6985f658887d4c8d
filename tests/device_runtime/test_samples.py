"""The sample store: bounded, PNG round trip, arrays for training, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from device_runtime._exceptions import SampleStoreError
from device_runtime.samples import Sample, SampleStore, plan_eviction

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


# -- balanced per-class eviction ------------------------------------------------------------------

@pytest.mark.parametrize(("sizes", "oldest", "n", "expected"), [
    # unlabelled rows go first, oldest first, whatever the class sizes
    ({None: 2, "car": 5}, {None: [7, 3], "car": [1, 2]}, 2, [7, 3]),
    # then the biggest class loses its oldest, one row at a time, levelling the classes
    ({"car": 3, "bus": 1}, {"car": [2, 4, 6], "bus": [1]}, 2, [2, 4]),
    # a tie goes to the class whose oldest row is older (FIFO when balanced)
    ({"car": 2, "bus": 2}, {"car": [3, 4], "bus": [1, 2]}, 3, [1, 3, 2]),
    # unlabelled first, then the biggest class
    ({None: 1, "car": 2, "bus": 1}, {None: [9], "car": [1, 5], "bus": [2]}, 2, [9, 1]),
    # never more rows than there are
    ({"car": 1}, {"car": [1]}, 3, [1]),
])
def test_plan_eviction(sizes, oldest, n, expected) -> None:
    assert plan_eviction(sizes, oldest, n) == expected


def test_full_store_evicts_from_the_biggest_class_and_keeps_rare_ones(tmp_path) -> None:
    with SampleStore(tmp_path / "s.sqlite3", max_samples=4) as store:
        store.add(crop(1), sample("bus", track=0))
        for i in range(1, 6):
            store.add(crop(1), sample("car", track=i))
        assert [(s.label, s.track_id) for s, _ in store.rows()] == [("bus", 0), ("car", 3), ("car", 4), ("car", 5)]
        store.add(crop(1), sample(None, track=6))  # unlabelled: the first to go
        store.add(crop(1), sample("truck", track=7))
        assert [(s.label, s.track_id) for s, _ in store.rows()] == [
            ("bus", 0), ("car", 4), ("car", 5), ("truck", 7)]
        assert store.evicted == 4


def test_counts_and_entries(tmp_path) -> None:
    with SampleStore(tmp_path / "s.sqlite3") as store:
        sid = store.add(crop(3), sample("car"))
        store.add(crop(4), sample("car", "pseudo"))
        store.add(crop(5), sample(None))
        assert store.counts() == [(None, "edge", 1), ("car", "edge", 1), ("car", "pseudo", 1)]
        entries = store.entries()
        assert entries[0][0] == sid and entries[0][2][:8] == b"\x89PNG\r\n\x1a\n"
        assert [e[1].label_source for e in store.entries("pseudo")] == ["pseudo"]


def test_apply_labels_is_one_transaction_and_reports_missing_ids(tmp_path, monkeypatch) -> None:
    path = tmp_path / "s.sqlite3"
    with SampleStore(path, max_samples=3) as store:
        a = store.add(crop(1), sample("car", track=1))
        b = store.add(crop(2), sample("car", track=2))
        manual = Sample("import", -1, "bicycle", "manual", 1.0, "manual-import", 0)
        changes = store.apply_labels({a: "bus", "f" * 32: "car"}, [(crop(9), manual), (crop(8), manual)])
        assert changes.relabelled == (a,) and changes.missing == ("f" * 32,) and len(changes.added) == 2
        assert changes.evicted == 1  # 4 rows > 3: a bicycle goes (bicycle 2 > bus 1 = car 1)
        assert sorted((s.label, s.label_source) for s, _ in store.rows()) == [
            ("bicycle", "manual"), ("bus", "manual"), ("car", "edge")]
        assert b in {e[0] for e in store.entries()}
        before = store.counts()
        with pytest.raises(SampleStoreError, match="cannot encode"):
            store.apply_labels({b: "bus"}, [(np.zeros((0, 0, 3), np.uint8), manual)])
        assert store.counts() == before

        def fail(conn):
            raise SampleStoreError("disk full")

        monkeypatch.setattr(store, "_evict", fail)  # fails after the updates and inserts ran
        with pytest.raises(SampleStoreError, match="disk full"):
            store.apply_labels({b: "bus"}, [(crop(7), manual)])
        assert store.counts() == before  # rolled back


def test_a_guest_writer_works_beside_the_daemon_s_writer(tmp_path) -> None:
    path = tmp_path / "s.sqlite3"
    with SampleStore(path) as daemon:
        sid = daemon.add(crop(1), sample("car"))
        with SampleStore(path, guest=True) as guest:  # no flock: label import beside a running node
            assert guest.apply_labels({sid: "truck"}, []).relabelled == (sid,)
        daemon.add(crop(2), sample("bus"))
        assert [s.label for s, _ in daemon.rows()] == ["truck", "bus"]
    with pytest.raises(SampleStoreError, match="no data dir"):
        SampleStore(tmp_path / "nope" / "s.sqlite3", guest=True)
