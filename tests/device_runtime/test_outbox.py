"""The SQLite outbox: bounds, overflow policies, TTL, idempotency, FIFO per destination, corruption,
and durability under SIGKILL (real subprocesses)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aiotwin.wire import CountEvent, HealthEvent
from device_runtime._exceptions import OutboxError
from device_runtime.outbox import Outbox


class FakeClock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def count_event(i: int = 0) -> CountEvent:
    return CountEvent(camera_id="cam-1", line_id="l0", direction="in", cls="car", confidence=0.9,
                      track_id=i, model="edge", model_version=1, variant="onnx-fp32")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_outbox(tmp_path, clock):
    opened: list[Outbox] = []

    def _open(**kw) -> Outbox:
        kw.setdefault("clock", clock)
        ob = Outbox.open(tmp_path / "outbox.sqlite3", **kw)
        opened.append(ob)
        return ob

    yield _open
    for ob in opened:
        ob.close()


def test_put_list_roundtrip_and_wal_mode(open_outbox, tmp_path) -> None:
    ob = open_outbox()
    events = [count_event(i) for i in range(3)] + [HealthEvent(camera_id="cam-1", condition="source_lost",
                                                             active=True)]
    assert ob.put(events) == 4
    assert ob.list(10) == events
    assert ob.list(2) == events[:2]
    assert ob.list(10, since=events[1].id) == events[2:]
    with pytest.raises(OutboxError, match="not in the outbox"):
        ob.list(10, since="nope")
    conn = sqlite3.connect(tmp_path / "outbox.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_put_is_idempotent(open_outbox) -> None:
    ob = open_outbox()
    events = [count_event(i) for i in range(5)]
    assert ob.put(events) == 5
    assert ob.put([*events[2:], count_event(9)]) == 1
    stats = ob.stats()
    assert stats.depth == 6
    assert (stats.stored, stats.duplicates) == (6, 3)
    assert len({e.id for e in ob.list(100)}) == 6


def test_duplicates_in_one_batch_are_stored_once(open_outbox) -> None:
    ob = open_outbox()
    e = count_event()
    assert ob.put([e, e, e]) == 1
    assert ob.list(10) == [e]


def test_drop_oldest_keeps_the_newest(open_outbox) -> None:
    ob = open_outbox(max_events=5, overflow="drop-oldest")
    events = [count_event(i) for i in range(8)]
    ob.put(events[:4])
    assert ob.put(events[4:]) == 4
    assert ob.list(100) == events[3:]
    stats = ob.stats()
    assert (stats.depth, stats.dropped, stats.rejected) == (5, 3, 0)


def test_drop_oldest_batch_larger_than_bound(open_outbox) -> None:
    ob = open_outbox(max_events=3, overflow="drop-oldest")
    events = [count_event(i) for i in range(7)]
    ob.put(events)
    assert ob.list(100) == events[-3:]
    assert ob.stats().dropped == 4


def test_reject_new_keeps_the_oldest(open_outbox) -> None:
    ob = open_outbox(max_events=5, overflow="reject-new")
    events = [count_event(i) for i in range(8)]
    ob.put(events[:4])
    assert ob.put([*events[4:], events[0]]) == 1
    assert ob.list(100) == events[:5]
    stats = ob.stats()
    assert (stats.depth, stats.rejected, stats.dropped, stats.duplicates) == (5, 3, 0, 1)
    ob.ack([events[0].id])
    assert ob.put([events[7]]) == 1


def test_ttl_expires_with_injected_clock(open_outbox, clock) -> None:
    ob = open_outbox(ttl_s=60)
    old = [count_event(i) for i in range(3)]
    ob.put(old)
    clock.t += 30
    new = [count_event(10)]
    ob.put(new)
    clock.t += 31  # old ones are 61 s old, the new one 31 s
    assert ob.list(100) == new  # expired rows are never returned, even before the purge
    assert ob.peek("gateway", 10)[0].event == new[0]
    assert ob.purge_expired() == 3
    stats = ob.stats()
    assert (stats.depth, stats.expired) == (1, 3)
    clock.t += 30
    ob.put([count_event(11)])  # every write purges first
    assert ob.stats().expired == 4


def test_fifo_peek_ack_nack_per_destination(open_outbox) -> None:
    ob = open_outbox()
    gw = [count_event(i) for i in range(5)]
    cloud = [count_event(100 + i) for i in range(3)]
    ob.put(gw[:2])
    ob.put(cloud, dest="cloud")
    ob.put(gw[2:])
    assert [s.event for s in ob.peek("gateway", 3)] == gw[:3]
    assert [s.event for s in ob.peek("cloud", 10)] == cloud
    assert ob.peek("nowhere", 10) == []
    assert ob.nack([gw[0].id, gw[1].id]) == 2
    head = ob.peek("gateway", 2)
    assert [s.event for s in head] == gw[:2]  # a nack keeps the FIFO place
    assert [s.attempts for s in head] == [1, 1]
    assert ob.ack([gw[0].id, gw[1].id, "unknown"]) == 2
    assert ob.ack([gw[0].id]) == 0  # acks are idempotent
    assert [s.event for s in ob.peek("gateway", 10)] == gw[2:]
    stats = ob.stats()
    assert stats.depth_by_dest == {"gateway": 3, "cloud": 3}
    assert (stats.acked, stats.nacked) == (2, 2)


def test_depth_survives_reopen(open_outbox, tmp_path, clock) -> None:
    ob = open_outbox(max_events=4, overflow="reject-new")
    ob.put([count_event(i) for i in range(3)])
    ob.close()
    again = open_outbox(max_events=4, overflow="reject-new")
    assert again.stats().depth == 3
    assert again.put([count_event(i) for i in range(10, 13)]) == 1


def test_concurrent_writers_from_threads(open_outbox) -> None:
    ob = open_outbox()
    batches = [[count_event(i * 10 + j) for j in range(10)] for i in range(8)]
    threads = [threading.Thread(target=ob.put, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ob.stats().depth == 80


def test_failed_batch_is_rolled_back_whole_and_the_outbox_stays_usable(open_outbox, tmp_path) -> None:
    ob = open_outbox()
    ob.put([count_event(0)])
    conn = sqlite3.connect(tmp_path / "outbox.sqlite3")
    conn.execute("CREATE TRIGGER fail BEFORE INSERT ON events WHEN NEW.kind = 'health' "
                 "BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END")
    conn.commit()
    batch = [count_event(1), HealthEvent(camera_id="c", condition="black", active=True)]
    with pytest.raises(OutboxError, match="simulated write failure"):
        ob.put(batch)
    assert [e.track_id for e in ob.list(10)] == [0]  # the count event of the failed batch is not there
    assert (ob.stats().depth, ob.stats().stored) == (1, 1)
    conn.execute("DROP TRIGGER fail")
    conn.commit()
    conn.close()
    assert ob.put(batch) == 2


def test_not_a_database_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(OutboxError, match="corrupt or not an SQLite database"):
        Outbox.open(path)
    path.write_bytes(b"")
    Outbox.open(path).close()  # an empty file is a fresh database


def test_corrupt_pages_are_a_clear_error(tmp_path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox.open(path) as ob:
        ob.put([count_event(i) for i in range(500)])
    data = bytearray(path.read_bytes())
    for off in range(4096 + 100, len(data), 4096):  # scribble over every page after the first
        data[off:off + 64] = os.urandom(64)
    path.write_bytes(bytes(data))
    with pytest.raises(OutboxError, match="corrupt"):
        Outbox.open(path)


def test_second_writer_is_refused_and_closed_outbox_errors(open_outbox, tmp_path, clock) -> None:
    ob = open_outbox()
    with pytest.raises(OutboxError, match="in use by another process"):
        Outbox.open(tmp_path / "outbox.sqlite3")
    reader = Outbox.open(tmp_path / "outbox.sqlite3", readonly=True, clock=clock)
    ob.put([count_event()])
    assert len(reader.list(10)) == 1
    reader.close()
    ob.close()
    with pytest.raises(OutboxError, match="closed"):
        ob.put([count_event()])


def test_readonly_open_of_missing_outbox(tmp_path) -> None:
    with pytest.raises(OutboxError, match="no outbox database"):
        Outbox.open(tmp_path / "missing.sqlite3", readonly=True)


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(OutboxError, match="max_events"):
        Outbox.open(tmp_path / "o.sqlite3", max_events=0)
    with pytest.raises(OutboxError, match="overflow policy"):
        Outbox.open(tmp_path / "o.sqlite3", overflow="drop-newest")  # type: ignore[arg-type]


# -- SIGKILL at a random moment -------------------------------------------------------------------

_WRITER = r"""
import random, sys, uuid
from pathlib import Path
from aiotwin.wire import CountEvent
from device_runtime.outbox import Outbox

path, seed = Path(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
ob = Outbox.open(path, max_events=1_000_000)
i = 0
while True:  # re-puts the same deterministic ids after a restart: redelivery must not duplicate
    batch = []
    for _ in range(rng.randint(1, 4)):
        eid = uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}-{i}").hex
        batch.append(CountEvent(camera_id="c", line_id="l", direction="in", cls="car", confidence=0.5,
                                track_id=i, model="edge", model_version=1, variant="v", id=eid))
        i += 1
    ob.put(batch)
    sys.stdout.write("".join(e.id + "\n" for e in batch))
    sys.stdout.flush()
"""


def test_sigkill_loses_no_committed_event_and_duplicates_none(tmp_path) -> None:
    rng = random.Random(1234)
    path = tmp_path / "outbox.sqlite3"
    printed: set[str] = set()
    for run in range(5):
        seed = run % 2  # seeds repeat: later runs redeliver ids an earlier run committed
        proc_ids = _run_and_kill(path, seed, rng)
        printed |= proc_ids
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ids = [r[0] for r in conn.execute("SELECT id FROM events")]
        finally:
            conn.close()
        assert len(ids) == len(set(ids)), "an id is stored twice"
        missing = printed - set(ids)
        assert not missing, f"run {run}: {len(missing)} committed events lost"
    with Outbox.open(path) as ob:
        assert ob.stats().depth >= len(printed)


def _run_and_kill(path: Path, seed: int, rng: random.Random) -> set[str]:
    """Start the writer, SIGKILL it after a random number of commits; return every id it printed."""
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(seed)],
                            stdout=subprocess.PIPE, text=True)
    seen: set[str] = set()
    try:
        assert proc.stdout is not None
        for _ in range(rng.randint(20, 400)):
            line = proc.stdout.readline()
            if not line:
                break
            seen.add(line.strip())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        rest = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    seen |= {line for line in rest.split("\n")[:-1] if line}  # a torn last line was never complete
    return seen
