"""Failures with real Flower processes on loopback: a camera dies mid-round, a gateway dies mid global round.

- Edge tier: one SuperLink, three camera SuperNodes, quorum 0.6 (2 of 3). cam-2's sample source
  (:func:`tests.fl.tiny_task.slow_samples`) stalls inside the round and marks it; then cam-2's
  SuperNode process tree (SuperNode, SuperExec, ClientApp) is SIGKILLed and its supervisor, like
  the dead device, does not restart it. The round closes at its deadline with cam-0's and cam-1's
  updates, publishes, and records cam-2 as missing.
- Two tiers: the coordinator and two gateways, each ``aiotwin-gateway start`` with FL on in its own
  process with one camera. gw-1's camera stalls its edge round; then the whole gw-1 process tree
  (daemon, edge SuperLink + ServerApp, cloud-tier SuperNode + ClientApp) is SIGKILLed. With a
  global quorum of 0.5 the round publishes with gw-0 alone and records gw-1 as missing; the next
  global round runs with gw-0 (gw-1's dead SuperNode, still "online" for Flower's heartbeat
  patience of 2 × 30 s, is missing again or reported unavailable).

The processes run plain HTTP (``insecure``): TLS and authentication have their own tests. Every
process is collected and checked gone at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time

import pytest

from aiotwin.flower import EdgeJob, descendants
from aiotwin.flower.host import HostConfig
from aiotwin.flower.supernode import SuperNodeSupervisor
from aiotwin.models import load_task
from aiotwin.retry import Backoff
from cloud_coordinator.fl import CloudJob, CloudRunDir, FlCoordinator
from gateway.fl import EdgeAggregator, EdgeAggregatorConfig
from tests._procs import LoggedProcess, process_alive
from tests.fl.conftest import TINY, free_port, needs_flower, toy_npz

pytestmark = [pytest.mark.slow, needs_flower, pytest.mark.timeout(300)]

MARK_TIMEOUT_S = 90.0


def _camera(superlink, tmp_path, i, env, *, slow=False, dies=False):
    """Camera ``cam-i``; ``slow``: its first round stalls (a mark file says when); ``dies``: never restarted."""
    name = f"cam-{i}"
    samples = toy_npz(tmp_path / f"{name}.npz", 200, seed=i + 1)
    config = {"node-name": name, "task": TINY}
    if slow:
        config.update({"sample-source": "tests.fl.tiny_task:slow_samples", "slow-npz": str(samples),
                       "slow-mark": str(tmp_path / f"{name}.training"), "slow-s": 120.0})
    else:
        config["samples-npz"] = str(samples)
    backoff = Backoff(base_s=0.5, cap_s=2.0, max_attempts=1 if dies else None)
    return SuperNodeSupervisor(superlink, tmp_path / name / "fl", runtime_port=free_port(), env=env, insecure=True,
                               node_config=config, backoff=backoff)


async def _until_file(path, timeout_s=MARK_TIMEOUT_S):
    give_up = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < give_up, f"{path} did not appear: the node never got into its round"
        await asyncio.sleep(0.1)


def _tree(pid):
    return [pid, *descendants(pid)] if pid else []


def _kill(pids):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)




# -- edge tier ----------------------------------------------------------------------------------------


async def _edge(tmp_path, env):
    agg = EdgeAggregator(EdgeAggregatorConfig(tmp_path / "gw", port=free_port(), insecure=True), env=env)
    cams = [_camera(agg.address, tmp_path, i, env, slow=i == 2, dies=i == 2) for i in range(3)]
    job = EdgeJob(task=TINY, base_version="3", rounds=1, epochs=1, seed=5, min_nodes=3, quorum_frac=0.6,
                  deadline_s=30.0, wait_nodes_s=90.0)
    pids: list[int] = []
    killed: list[int] = []

    async def kill_cam2_mid_round():
        await _until_file(tmp_path / "cam-2.training")
        killed.extend(_tree(cams[2].pid))  # SuperNode, its SuperExec and the ClientApp inside the round
        _kill(killed)

    try:
        await agg.start()
        for cam in cams:
            await cam.start()
        await agg.wait_for_nodes(3, timeout_s=90.0)
        for proc in (agg.superlink_pid, *(c.pid for c in cams)):
            pids += _tree(proc)
        t0 = time.monotonic()
        result, _ = await asyncio.gather(agg.run_job(job, load_task(TINY, seed=5).get_weights()),
                                         kill_cam2_mid_round())
        took = time.monotonic() - t0
        for _ in range(50):  # the supervisor notices within a watch poll and, the device being dead, gives up
            if cams[2].gave_up:
                break
            await asyncio.sleep(0.1)
        return result, killed, cams[2].gave_up, pids, took
    finally:
        for cam in cams:
            await cam.shutdown()
        await agg.shutdown()


def test_a_camera_that_dies_mid_round_leaves_a_round_completed_by_quorum(tmp_path, flower_env):
    result, killed, gave_up, pids, took = asyncio.run(_edge(tmp_path, flower_env))
    print(f"edge round with a camera killed mid-round: {took:.1f} s")

    (rec,) = result.rounds
    assert len(killed) >= 3, killed  # SuperNode + SuperExec + ClientApp
    assert gave_up
    assert len(rec["connected"]) == 3 and rec["sent"] == 3 and rec["quorum"] == 2
    assert len(rec["accepted"]) == 2 and rec["quorum_met"] and rec["aggregated"], rec
    assert {rec["clients"][n]["node-name"] for n in rec["accepted"]} == {"cam-0", "cam-1"}
    (dead,) = set(rec["connected"]) - set(rec["accepted"])
    assert rec["missing"] == [dead] and not rec["rejected"] and not rec["late"]
    assert rec["close_reason"] == "deadline" and rec["num_examples"] == 400
    assert result.status["state"] == "done"
    leftovers = [p for p in pids + killed if process_alive(p)]
    assert not leftovers, leftovers


# -- two tiers ----------------------------------------------------------------------------------------


def _gateway(tmp_path, g, coordinator, env):
    """``aiotwin-gateway start`` with FL on (router and uplink too), as a deployed gateway runs."""
    port = free_port()
    config = tmp_path / f"gw{g}.toml"
    config.write_text(f"[fl]\ncloud-runtime-port = {free_port()}\nmin-nodes = 1\nwait-nodes-s = 60\n", encoding="utf-8")
    argv = [sys.executable, "-c", "from gateway.cli import main; main()", "start", "--no-mdns", "--no-coap",
            "--host", "127.0.0.1", "--port", "0", "--data-dir", str(tmp_path / f"gw{g}"), "--node-id", f"gw-{g}",
            "--config", str(config), "--fl-coordinator", coordinator, "--fl-insecure", "--fl-port", str(port)]
    return LoggedProcess(argv, env=env, name=f"gw-{g}"), f"127.0.0.1:{port}"


async def _two_tiers(tmp_path, env):
    coord = FlCoordinator(HostConfig(tmp_path / "coord", port=free_port(), insecure=True), env=env)
    job = CloudJob(task=TINY, base_version="3", rounds=2, local_rounds=1, epochs=1, seed=7, min_nodes=1,
                   quorum_frac=0.5, deadline_s=40.0, edge_deadline_s=20.0, wait_nodes_s=60.0, publish="none")
    gateways, cams, pids, killed = [], [], [], []

    async def kill_gw1_mid_round():
        await _until_file(tmp_path / "cam-1.training")  # gw-1 is running its edge round for global round 1
        killed.extend(_tree(gateways[1][0].proc.pid))
        _kill(killed)

    try:
        await coord.start()
        gateways = [_gateway(tmp_path, g, coord.address, env) for g in range(2)]
        for proc, _ in gateways:
            await asyncio.to_thread(proc.wait_for, "aiotwin-gateway ready", 120.0)
        cams = [_camera(gateways[g][1], tmp_path, g, env, slow=g == 1) for g in range(2)]
        for cam in cams:
            await cam.start()
        await coord.wait_for_nodes(2, timeout_s=90.0)
        for proc in (coord.superlink_pid, *(p.proc.pid for p, _ in gateways), *(c.pid for c in cams)):
            pids += _tree(proc)
        t0 = time.monotonic()
        result, _ = await asyncio.gather(coord.run_job(job, load_task(TINY, seed=7).get_weights()),
                                         kill_gw1_mid_round())
        return result, killed, pids, time.monotonic() - t0
    finally:
        for cam in cams:
            await cam.shutdown()
        for proc, _ in gateways:
            proc.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(proc.wait, 60.0)
            proc.stop()
        await coord.shutdown()


def test_a_gateway_that_dies_mid_global_round_is_missing_and_the_next_round_works(tmp_path, flower_env):
    result, killed, pids, took = asyncio.run(_two_tiers(tmp_path, flower_env))
    print(f"two global rounds with a gateway killed in the first: {took:.1f} s "
          f"({[round(r['duration_s'], 1) for r in result.rounds]})")

    assert len(killed) >= 6, killed  # daemon, edge SuperLink + SuperExec + ServerApp, cloud SuperNode + SuperExec…
    assert result.status["state"] == "done" and result.status["version"] == "5", result.status
    r1, r2 = result.rounds
    assert r1["base_version"] == "3" and len(r1["connected"]) == 2 and r1["quorum"] == 1
    assert r1["quorum_met"] and r1["aggregated"] and len(r1["accepted"]) == 1, r1
    [gw0] = r1["accepted"]
    assert r1["clients"][gw0]["node-name"] == "gw-0"
    (gw1,) = set(r1["connected"]) - {gw0}
    assert r1["missing"] == [gw1] and not r1["rejected"]

    assert r2["base_version"] == "4" and r2["aggregated"] and r2["accepted"] == [gw0], r2
    # gw-1's dead SuperNode: gone from the Grid, or still listed and then missing or reported unavailable
    assert gw1 not in r2["connected"] or gw1 in r2["missing"] or gw1 in r2["rejected"], r2
    metrics = CloudRunDir(result.path).read_metrics()
    assert metrics[0]["gateways_missing"] == 1 and metrics[0]["gateways_accepted"] == 1
    assert [m["version_out"] for m in metrics] == ["4", "5"]
    leftovers = [p for p in pids + killed if process_alive(p)]
    assert not leftovers, leftovers
