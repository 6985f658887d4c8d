"""The gateway's event store: durable, idempotent by event id, one writer process."""

from __future__ import annotations

import sqlite3

import pytest

from gateway import UplinkStoreError
from gateway.uplink import EventStore
from tests.gateway.uplink.conftest import count_event, health_event


def test_put_stores_once_and_reports_duplicates(tmp_path):
    with EventStore.open(tmp_path / "ev.sqlite3") as store:
        first = store.put([count_event(1), health_event(2)], node="cam-node-1")
        again = store.put([count_event(1), count_event(3)])
        assert first.stored == ("ev-000001", "hv-000002") and first.duplicates == ()
        assert again.stored == ("ev-000003",) and again.duplicates == ("ev-000001",)
        assert again.accepted == ("ev-000003", "ev-000001")
        assert store.ids() == ["ev-000001", "hv-000002", "ev-000003"]
        assert [e for _, e in store.events()] == [count_event(1), health_event(2), count_event(3)]
        assert store.stats().rows == 3 and (store.stored, store.duplicates) == (3, 1)


def test_store_is_wal_full_sync_and_survives_reopen(tmp_path):
    path = tmp_path / "ev.sqlite3"
    with EventStore.open(path) as store:
        store.put([count_event(1)])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT id FROM events").fetchall() == [("ev-000001",)]
    finally:
        conn.close()
    with EventStore.open(path) as store:
        assert store.count() == 1


def test_a_second_writer_is_refused_and_a_closed_store_raises(tmp_path):
    path = tmp_path / "ev.sqlite3"
    store = EventStore.open(path)
    with pytest.raises(UplinkStoreError, match="in use"):
        EventStore.open(path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(UplinkStoreError, match="closed"):
        store.put([count_event(1)])


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "ev.sqlite3"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(UplinkStoreError, match="corrupt or not an SQLite database"):
        EventStore.open(path)
