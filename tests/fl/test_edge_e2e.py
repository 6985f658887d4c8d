"""The edge tier end to end on loopback: a real SuperLink, two real SuperNodes, two rounds.

Slow (Flower's polling and a cold ClientApp process per message: ~10–20 s per round on a loaded
2-core host). Every process is stopped in ``finally``; the suite's guard checks for leftovers.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time

import numpy as np
import pytest

from aiotwin.flower import EdgeJob, descendants
from aiotwin.models import ArrayStore, load_task
from aiotwin.models.data import toy_store
from aiotwin.retry import Backoff
from device_runtime.fl import SuperNodeSupervisor
from gateway.fl import EdgeAggregator, EdgeAggregatorConfig
from tests.fl.conftest import TINY, TOY_SIZE, flat, free_port, needs_flower, toy_npz

pytestmark = [pytest.mark.slow, needs_flower, pytest.mark.timeout(300)]


async def _federate(tmp_path, env):
    agg = EdgeAggregator(EdgeAggregatorConfig(tmp_path / "gw", port=free_port(), insecure=True), env=env)
    nodes = [
        SuperNodeSupervisor(agg.address, tmp_path / f"node{i}" / "fl", runtime_port=free_port(), env=env, insecure=True,
                            node_config={"node-name": f"cam-{i}", "task": TINY,
                                         "samples-npz": str(toy_npz(tmp_path / f"samples{i}.npz", 300, seed=i + 1))})
        for i in range(2)
    ]
    holdout = toy_npz(tmp_path / "holdout.npz", 240, seed=99)
    job = EdgeJob(task=TINY, base_version="3", rounds=2, epochs=1, seed=7, min_nodes=2, deadline_s=120.0,
                  wait_nodes_s=90.0, holdout_npz=holdout)
    initial = load_task(TINY, seed=7).get_weights()
    try:
        await agg.start()
        for node in nodes:
            await node.start()
        await agg.wait_for_nodes(2, timeout_s=90.0)
        return initial, await agg.run_job(job, initial), [n.pid for n in nodes]
    finally:
        for node in nodes:
            await node.shutdown()
        await agg.shutdown()


def test_two_supernodes_two_rounds_improve_the_model(tmp_path, flower_env):
    initial, result, _ = asyncio.run(_federate(tmp_path, flower_env))

    assert result.aggregated_rounds == 2
    for rec in result.rounds:
        assert len(rec["connected"]) == 2 and sorted(rec["accepted"]) == sorted(rec["connected"])
        assert rec["quorum_met"] and rec["aggregated"] and not rec["rejected"] and not rec["missing"]
        assert rec["num_examples"] == 600
        assert rec["bytes_down"] > 0 and rec["bytes_up"] > 0 and rec["duration_s"] > 0
        assert {c["node-name"] for c in rec["clients"].values()} == {"cam-0", "cam-1"}
        assert rec["train_loss"] is not None and rec["eval"]["accuracy"] > 0

    assert not np.allclose(flat(result.weights), flat(initial))
    task = load_task(TINY, seed=7)
    x, y = toy_store(240, seed=99, size=TOY_SIZE).arrays()
    before = task.evaluate(ArrayStore(x, y))["accuracy"]
    task.set_weights(result.weights)
    after = task.evaluate(ArrayStore(x, y))["accuracy"]
    assert after > before + 0.2, (before, after)
    assert result.status["final_eval"]["accuracy"] == pytest.approx(after)
    assert result.status["initial_eval"]["accuracy"] == pytest.approx(before)

    job = json.loads((result.path / "job.json").read_text())
    assert job["run-id"] == result.run_id and job["round-seeds"] == [7001, 7002]
    assert job["job"]["task"] == TINY and job["job"]["aggregation"]["rule"] == "fedavg"
    assert (result.path / "rounds.json").is_file() and (result.path / "result.npz").is_file()


def test_a_dead_superlink_is_restarted_with_a_new_serverapp(tmp_path, flower_env):
    async def main():
        agg = EdgeAggregator(EdgeAggregatorConfig(tmp_path / "gw", port=free_port(), insecure=True), env=flower_env,
                             backoff=Backoff(base_s=0.2, cap_s=0.5, rng=random.Random(2)))
        try:
            await agg.start()
            first_run, pid = agg.flower_run_id, agg.superlink_pid
            await asyncio.sleep(1.5)  # one watch poll: the SuperExec/ServerApp tree is remembered
            tree = descendants(pid)
            os.kill(pid, signal.SIGKILL)
            give_up = time.monotonic() + 120
            while agg.restarts < 1:
                assert time.monotonic() < give_up, "the SuperLink was not restarted"
                await asyncio.sleep(0.5)
            assert agg.flower_run_id != first_run and agg.superlink_pid != pid
            assert agg._fresh_heartbeat()
            return [pid, *tree]
        finally:
            await agg.shutdown()

    old = asyncio.run(main())
    assert len(old) >= 3  # SuperLink, its SuperExec, the ServerApp
    for p in old:
        assert _state(p) in ("gone", "Z"), (p, _state(p))


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
