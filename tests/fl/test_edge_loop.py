"""The edge round loop in-process over a fake Grid: version checks, quorum, late, malformed and oversized replies.

The nodes are :func:`aiotwin.flower.local.local_train` on the tiny task (real training, real update
frames); only Flower's transport is replaced.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from aiotwin.fl import AggregationConfig
from aiotwin.flower import EdgeJob, EdgeJobFailed, JobQueue, RunDir
from aiotwin.models import load_task
from tests.fl.conftest import TINY, flat, needs_flower, toy_npz

pytestmark = needs_flower


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


class FakeGrid:
    """Answers each pushed message with ``behaviour[node](instruction, weights, node)``.

    A behaviour returns a reply content (RecordDict), an ``Error``-like object, ``None`` (never
    answers) or ``("at", t, content)``: the reply becomes visible once the clock reaches ``t``.
    """

    def __init__(self, behaviour, clock: Clock) -> None:
        self.behaviour = behaviour
        self.clock = clock
        self.pending: dict[str, tuple[float, object, int]] = {}
        self.pushed = 0

    def get_node_ids(self):
        return list(self.behaviour)

    def push_messages(self, messages):
        from aiotwin.flower.records import parse_instruction

        ids = []
        for msg in messages:
            self.pushed += 1
            mid = f"m{self.pushed}"
            node = msg.metadata.dst_node_id
            instruction, weights = parse_instruction(msg.content)
            out = self.behaviour[node](instruction, weights, node)
            if isinstance(out, tuple):
                self.pending[mid] = (out[1], out[2], node)
            elif out is not None:
                self.pending[mid] = (self.clock() + 1.0, out, node)
            ids.append(mid)
        return ids

    def pull_messages(self, ids):
        out = []
        for mid in list(ids):
            if mid in self.pending and self.pending[mid][0] <= self.clock():
                _, content, node = self.pending.pop(mid)
                is_error = isinstance(content, SimpleNamespace)
                out.append(SimpleNamespace(
                    metadata=SimpleNamespace(reply_to_message_id=mid, src_node_id=node),
                    has_error=lambda e=is_error: e, error=content if is_error else None,
                    content=None if is_error else content))
        return out


def fake_message(content, node, group_id, ttl):
    assert ttl > 30.0 and group_id.endswith(("/1", "/2"))
    return SimpleNamespace(metadata=SimpleNamespace(dst_node_id=node), content=content)


def honest(npz, *, version=None, client=None):
    from aiotwin.flower.local import local_train
    from aiotwin.flower.records import reply_content

    def reply(instruction, weights, node):
        if version is not None:
            instruction = replace(instruction, base_version=version)
        res = local_train(instruction, weights, {"samples-npz": str(npz), "node-name": f"n{node}"},
                          client or str(node))
        return reply_content(res.frame, res.num_examples, res.metrics, res.meta)

    return reply


def later(behaviour, at):
    return lambda i, w, n: ("at", at, behaviour(i, w, n))


def _run(tmp_path, behaviour, **job_kw):
    clock = Clock()
    queue = JobQueue(tmp_path / "work")
    queue.ensure()
    job = EdgeJob(**{"task": TINY, "base_version": "3", "rounds": 1, "seed": 7, "deadline_s": 30.0,
                     "poll_s": 0.5, "wait_nodes_s": 5.0, **job_kw})
    weights = load_task(TINY, seed=7).get_weights()
    run = queue.new_run(job, weights)
    from aiotwin.flower.edge_loop import EdgeLoop

    loop = EdgeLoop(FakeGrid(behaviour, clock), job, run, clock=clock, wall=clock, sleep=clock.sleep,
                    make_message=fake_message)
    out = loop.run_rounds(weights)
    return weights, out, loop.records, run


@pytest.fixture
def npz(tmp_path):
    return [toy_npz(tmp_path / f"s{i}.npz", 120, seed=i + 1) for i in range(3)]


def test_reply_with_a_wrong_base_version_is_rejected_and_recorded(tmp_path, npz):
    behaviour = {1: honest(npz[0]), 2: honest(npz[1]), 3: honest(npz[2], version="2")}
    before, after, records, run = _run(tmp_path, behaviour)
    rec = records[0]
    assert sorted(rec.accepted) == ["1", "2"] and list(rec.rejected) == ["3"]
    assert "base version '2'" in rec.rejected["3"] and "'3'" in rec.rejected["3"]
    assert rec.quorum == 2 and rec.quorum_met and rec.aggregated and rec.num_examples == 240
    assert not np.allclose(flat(after), flat(before))
    saved = json.loads((run.path / RunDir.ROUNDS).read_text())[0]
    assert saved["rejected"] == rec.rejected and saved["accepted"] == rec.accepted


def test_without_quorum_the_round_keeps_the_old_model(tmp_path, npz):
    behaviour = {1: honest(npz[0]), 2: honest(npz[1], version="2"), 3: honest(npz[2], version="1")}
    before, after, records, _ = _run(tmp_path, behaviour)
    rec = records[0]
    assert rec.accepted == ["1"] and sorted(rec.rejected) == ["2", "3"]
    assert not rec.quorum_met and not rec.aggregated
    assert np.allclose(flat(after), flat(before))


def test_a_missing_node_is_recorded_and_its_late_reply_too(tmp_path, npz):
    behaviour = {1: honest(npz[0]), 2: honest(npz[1]), 3: later(honest(npz[2]), at=1e9)}
    _, _, records, _ = _run(tmp_path, behaviour, deadline_s=10.0)
    rec = records[0]
    assert rec.missing == ["3"] and rec.close_reason == "deadline" and rec.aggregated
    assert 9.9 <= rec.duration_s <= 10.6

    calls = []

    def slow_then_gone(i, w, n):  # round 1: replies 5 s after the deadline; round 2: never
        calls.append(i.round)
        return later(honest(npz[2]), at=100.0 + 15.0)(i, w, n) if i.round == 1 else None

    behaviour = {1: honest(npz[0]), 2: honest(npz[1]), 3: slow_then_gone}
    _, _, records, _ = _run(tmp_path, behaviour, deadline_s=10.0, rounds=2)
    assert calls == [1, 2]
    assert records[0].missing == [] and records[0].late == ["3"]
    assert sorted(records[1].accepted) == ["1", "2"] and records[1].missing == ["3"]


def test_malformed_oversized_spoofed_and_error_replies_are_rejected(tmp_path, npz):
    from aiotwin.flower.records import reply_content

    def no_update(i, w, n):
        content = honest(npz[0])(i, w, n)
        del content.config_records["update"]
        return content

    behaviour = {
        1: honest(npz[0]),
        2: no_update,
        3: honest(npz[2], client="1"),
        4: lambda i, w, n: SimpleNamespace(code=4101, reason="no labelled samples on this node yet"),
        5: lambda i, w, n: reply_content(b"AFLU\x01garbage", 1, {}, {}),
    }
    _, _, records, _ = _run(tmp_path, behaviour, quorum_frac=0.2)
    rej = records[0].rejected
    assert records[0].accepted == ["1"]
    assert "no 'update' record" in rej["2"]
    assert "claims client '1'" in rej["3"]
    assert "node error 4101: no labelled samples" in rej["4"]
    assert rej["5"]  # the wire parser's own sentence

    agg = AggregationConfig(max_update_bytes=64)
    _, _, records, _ = _run(tmp_path, {1: honest(npz[0])}, aggregation=agg)
    assert "limit is 64" in records[0].rejected["1"] and not records[0].aggregated


def test_too_few_nodes_fails_the_job(tmp_path, npz):
    with pytest.raises(EdgeJobFailed, match=r"1 node.*needs 2"):
        _run(tmp_path, {1: honest(npz[0])}, min_nodes=2)
