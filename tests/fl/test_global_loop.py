"""The coordinator tier in-process: global rounds over a fake Grid of gateways, the bridge, resume.

Gateways are simulated by :func:`aiotwin.flower.local.local_train` on the tiny task (real update
frames; what a gateway's bridge replies has the same format); only Flower's transport is replaced.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from aiotwin.fl import decode_update
from aiotwin.flower import EdgeJobFailed, JobQueue, load_weights
from aiotwin.flower.cloud import REC_EDGE, EdgeRequest, bridge_reply, submit_to_bridge, wait_bridge
from aiotwin.flower.host import JobResult
from aiotwin.flower.protocol import TrainInstruction
from aiotwin.models import load_task
from cloud_coordinator.fl import CloudJob, CloudRunDir
from tests.fl.conftest import TINY, flat, needs_flower, toy_npz
from tests.fl.test_edge_loop import Clock, FakeGrid

pytestmark = needs_flower


def gateway(npz, *, version=None, edge=None):
    """A gateway's reply: a trained delta vs the global weights, with edge-tier metrics."""
    from aiotwin.flower.local import local_train
    from aiotwin.flower.records import reply_content

    def reply(instruction, weights, node):
        if version is not None:
            instruction = replace(instruction, base_version=version(instruction.round)
                                  if callable(version) else version)
        res = local_train(instruction, weights, {"samples-npz": str(npz), "node-name": f"gw{node}"}, str(node))
        metrics = {**res.metrics, "edge-participants": 2.0, "edge-connected": 2.0, "edge-bytes-down": 1000.0,
                   "edge-bytes-up": 900.0, "edge-s": 3.0, **(edge or {})}
        return reply_content(res.frame, res.num_examples, metrics, res.meta)

    return reply


def fake_message(content, node, group_id, ttl):
    assert ttl > 30.0
    return SimpleNamespace(metadata=SimpleNamespace(dst_node_id=node), content=content)


class RecordingGrid(FakeGrid):
    """Keeps each pushed message's content (to check the "edge" record)."""

    def __init__(self, behaviour, clock):
        super().__init__(behaviour, clock)
        self.contents = []

    def push_messages(self, messages):
        messages = list(messages)
        self.contents += [m.content for m in messages]
        return super().push_messages(messages)


def _job(**kw):
    return CloudJob(**{"task": TINY, "base_version": "3", "rounds": 2, "seed": 7, "deadline_s": 30.0,
                       "edge_deadline_s": 10.0, "poll_s": 0.5, "wait_nodes_s": 5.0, **kw})


def _loop(tmp_path, behaviour, job):
    from cloud_coordinator.fl.global_loop import GlobalLoop

    clock = Clock()
    queue = JobQueue(tmp_path / "coord")
    queue.ensure()
    weights = load_task(TINY, seed=7).get_weights()
    run = CloudRunDir(queue.new_run(job, weights).path)
    grid = RecordingGrid(behaviour, clock)
    loop = GlobalLoop(grid, job, run, clock=clock, wall=clock, sleep=clock.sleep, make_message=fake_message)
    return loop, grid, weights, run, queue


@pytest.fixture
def npz(tmp_path):
    return [toy_npz(tmp_path / f"s{i}.npz", 120, seed=i + 1) for i in range(3)]


def test_versions_advance_and_a_stale_gateway_is_rejected(tmp_path, npz):
    # gateway 3 always replies with an update trained on version 3: right in round 1, stale in round 2
    behaviour = {1: gateway(npz[0]), 2: gateway(npz[1]), 3: gateway(npz[2], version="3")}
    loop, grid, initial, run, _ = _loop(tmp_path, behaviour, _job())
    out = loop.run_rounds(initial)
    r1, r2 = loop.records
    assert r1.base_version == "3" and sorted(r1.accepted) == ["1", "2", "3"] and r1.aggregated
    assert r2.base_version == "4" and sorted(r2.accepted) == ["1", "2"] and list(r2.rejected) == ["3"]
    assert "base version '3'" in r2.rejected["3"] and "'4'" in r2.rejected["3"]
    assert r2.quorum == 2 and r2.aggregated and loop.base_version == "5"
    assert not np.allclose(flat(out), flat(initial))

    edge = EdgeRequest.from_config(dict(grid.contents[0].config_records[REC_EDGE]))
    assert edge.local_rounds == 1 and edge.deadline_s == 10.0 and edge.bridge_timeout_s == 25.0
    assert edge.deadline_s <= edge.bridge_timeout_s < loop.job.deadline_s < loop.job.ttl_s

    metrics = json.loads((run.path / CloudRunDir.METRICS).read_text())
    assert [m["version_out"] for m in metrics] == ["4", "5"]
    assert metrics[0]["cameras_participating"] == 6 and metrics[1]["cameras_participating"] == 4
    assert metrics[0]["bytes_edge_up"] == 2700 and metrics[0]["bytes_wan_up"] > 0
    assert metrics[1]["gateways_rejected"] == 1
    csv = (run.path / CloudRunDir.METRICS_CSV).read_text().splitlines()
    assert csv[0].startswith("round,version_in,version_out") and len(csv) == 3
    checkpoint = run.read_checkpoint()
    assert checkpoint.round == 2 and checkpoint.version == "5"
    assert np.allclose(flat(checkpoint.weights), flat(out))


def test_without_gateway_quorum_the_version_stays(tmp_path, npz):
    behaviour = {1: gateway(npz[0]), 2: gateway(npz[1], version="2"), 3: lambda i, w, n: None}
    loop, _, initial, _, _ = _loop(tmp_path, behaviour, _job(rounds=1))
    out = loop.run_rounds(initial)
    rec = loop.records[0]
    assert rec.accepted == ["1"] and list(rec.rejected) == ["2"] and rec.missing == ["3"]
    assert not rec.quorum_met and not rec.aggregated and loop.base_version == "3"
    assert np.allclose(flat(out), flat(initial))


def test_a_restarted_coordinator_resumes_after_the_last_completed_round(tmp_path, npz):
    from cloud_coordinator.fl.server_app import run_global_job

    behaviour = {1: gateway(npz[0]), 2: gateway(npz[1])}
    loop, grid, initial, run, queue = _loop(tmp_path, behaviour, _job(rounds=3))
    loop.run_round(1, [1, 2], initial)  # round 1 completes, then the coordinator "dies"
    run.write_status("running")

    seen = []

    def recording(reply):
        def wrapped(i, w, node):
            seen.append((i.round, i.base_version))
            return reply(i, w, node)
        return wrapped

    grid.behaviour = {n: recording(b) for n, b in behaviour.items()}
    clock = grid.clock
    run_global_job(grid, run, queue, make_message=fake_message, clock=clock, wall=clock, sleep=clock.sleep)
    status = run.read_status()
    assert status["state"] == "done", status
    assert sorted(set(seen)) == [(2, "4"), (3, "5")] and status["version"] == "6"
    assert [r["round"] for r in run.read_rounds()] == [1, 2, 3]
    assert len(run.read_metrics()) == 3
    [final] = run.publish_requests()  # publish = "final": the last model is handed to the daemon
    assert (final.round, final.version) == (3, "6")
    assert np.allclose(flat(load_weights(final.weights)), flat(load_weights(run.path / "result.npz")))
    assert status["publish_error"] is None


def test_with_every_round_each_aggregated_model_is_handed_over(tmp_path, npz):
    # round 1: gateways 1 and 2 make the quorum (2 of 3); round 2: gateway 2 is stale, no quorum, no new model
    behaviour = {1: gateway(npz[0]), 2: gateway(npz[1], version="3"), 3: lambda i, w, n: None}
    loop, _, initial, run, _ = _loop(tmp_path, behaviour, _job(publish="every-round"))
    out = loop.run_rounds(initial)
    assert [r.aggregated for r in loop.records] == [True, False]
    [request] = run.publish_requests()
    assert (request.round, request.version, request.key) == (1, "4", "round-0001")
    assert np.allclose(flat(load_weights(request.weights)), flat(out))
    assert [r.key for r in run.unsettled_requests()] == ["round-0001"]
    run.write_publication("round-0001", {"state": "skipped", "reason": "test"})
    assert run.unsettled_requests() == []

    none_loop, _, initial, none_run, _ = _loop(tmp_path / "none", behaviour, _job(publish="none", rounds=1))
    none_loop.run_rounds(initial)
    assert none_loop.records[0].aggregated and none_run.publish_requests() == []


def test_publish_options_are_checked():
    with pytest.raises(ValueError, match="publish must be one of final, every-round, none"):
        _job(publish="always")
    with pytest.raises(ValueError, match=r"unknown variant\(s\) \['onnx-int4'\]"):
        _job(publish_variants=("onnx-fp32", "onnx-int4"))
    with pytest.raises(ValueError, match="at least one variant"):
        _job(publish_variants=())
    assert _job(publish="none", publish_variants=()).publish == "none"


def test_timeouts_must_be_ordered():
    with pytest.raises(ValueError, match=r"bridge-timeout-s .* must be shorter"):
        _job(deadline_s=30.0, bridge_timeout_s=30.0)
    with pytest.raises(ValueError, match=r"edge-deadline-s .* must not exceed"):
        _job(deadline_s=30.0, edge_deadline_s=29.0)
    with pytest.raises(ValueError, match="base-version must be an integer"):
        _job(base_version="v3")


def test_the_bridge_hands_the_global_model_to_the_edge_loop_and_replies_a_delta(tmp_path):
    from gateway.fl.cloud import CloudBridge, EdgeDefaults

    initial = load_task(TINY, seed=7).get_weights()
    trained = [w + 0.5 for w in initial]
    jobs = []

    class FakeAggregator:
        def connected_nodes(self):
            return ["11", "12"]

        async def run_job(self, job, weights, *, timeout_s=None):
            jobs.append((job, timeout_s))
            rounds = [{"aggregated": True, "num_examples": 300, "accepted": ["11", "12"], "connected": ["11", "12"],
                       "bytes_down": 10, "bytes_up": 20, "train_loss": 0.5}]
            return JobResult("edge-1", tmp_path, trained, rounds, {"state": "done"})

    instruction = TrainInstruction(run_id="g1", round=1, base_version="4", task=TINY, seed=7001)
    request = EdgeRequest(local_rounds=2, deadline_s=10.0, bridge_timeout_s=20.0)

    async def main():
        bridge = CloudBridge(FakeAggregator(), tmp_path / "bridge", defaults=EdgeDefaults(min_nodes=2))
        await bridge.start()
        try:
            run = await asyncio.to_thread(submit_to_bridge, bridge.queue, instruction, request, initial, "77")
            status = await asyncio.to_thread(wait_bridge, run, bridge.queue, 10.0, sleep=threading.Event().wait,
                                             poll_s=0.05)
            return run, status
        finally:
            await bridge.shutdown()

    run, status = asyncio.run(main())
    job, timeout = jobs[0]
    assert job.rounds == 2 and job.base_version == "4" and job.min_nodes == 2 and job.deadline_s == 10.0
    assert timeout == pytest.approx(18.0)
    reply = bridge_reply(run, status, instruction, initial, client_id="77", gateway_id="gw-a")
    msg = decode_update(reply.frame, max_bytes=1 << 20)
    assert msg.update.base_version == "4" and msg.update.client_id == "77" and msg.update.num_examples == 300
    assert np.allclose(flat(msg.update.delta), 0.5)
    assert reply.metrics["edge-participants"] == 2 and reply.meta["node-name"] == "gw-a"

    with pytest.raises(Exception, match="does not serve its bridge"):
        submit_to_bridge(JobQueue(tmp_path / "bridge"), instruction, request, initial, "77")  # stopped


def test_a_failed_edge_job_fails_the_bridge_wait(tmp_path):
    queue = JobQueue(tmp_path / "b")
    queue.ensure()
    queue.heartbeat(nodes=[], state="serving")
    instruction = TrainInstruction(run_id="g1", round=1, base_version="4", task=TINY)
    run = submit_to_bridge(queue, instruction, EdgeRequest(deadline_s=5.0, bridge_timeout_s=9.0),
                           load_task(TINY).get_weights(), "5")
    run.write_status("failed", error="1 node(s) connected after 5 s, the job needs 2")
    with pytest.raises(EdgeJobFailed, match="needs 2"):
        wait_bridge(run, queue, 5.0, sleep=lambda s: None)
    clock = SimpleNamespace(t=0.0)
    run.write_status("running")

    def tick(s):
        clock.t += s

    with pytest.raises(EdgeJobFailed, match="bridge timeout"):
        wait_bridge(run, queue, 2.0, sleep=tick, clock=lambda: clock.t)
