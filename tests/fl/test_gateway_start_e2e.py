"""``aiotwin-gateway start`` runs the gateway's FL role beside its router and uplink: one global round through it.

A real coordinator (:class:`cloud_coordinator.fl.FlCoordinator`: SuperLink + global ServerApp, in
this process), one gateway daemon as a subprocess (``aiotwin-gateway start --fl-coordinator …
--fl-insecure``: router, CoAP uplink, edge SuperLink + ServerApp, bridge, cloud-tier SuperNode)
and one camera SuperNode (tiny numpy task, toy samples). One global round of one local round must
aggregate with that gateway; ``aiotwin-gateway fl status`` and the router's ``/metrics`` must show
the edge run; SIGTERM must end the daemon with exit 0 and leave no Flower process behind. Plain
HTTP (``insecure``): TLS and node authentication have their own tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import urllib.request

import pytest
from typer.testing import CliRunner

from aiotwin.flower import descendants
from aiotwin.flower.host import HostConfig
from aiotwin.flower.supernode import SuperNodeSupervisor
from aiotwin.models import load_task
from cloud_coordinator.fl import CloudJob, FlCoordinator
from gateway.cli import app
from tests._procs import LoggedProcess, process_alive
from tests.fl.conftest import TINY, free_port, needs_flower, toy_npz

pytestmark = [pytest.mark.slow, needs_flower, pytest.mark.timeout(300)]

_CLI = [sys.executable, "-c", "from gateway.cli import main; main()"]
_ROUTING = r"routing on (http://127\.0\.0\.1:\d+)"
READY_S = 150.0  # router + uplink + SuperLink + `flwr run` + ServerApp heartbeat + SuperNode, on a loaded host


def _gateway(tmp_path, coordinator, edge_port, env):
    config = tmp_path / "gateway.toml"
    config.write_text(f"[fl]\ncloud-runtime-port = {free_port()}\nmin-nodes = 1\nwait-nodes-s = 60\n",
                      encoding="utf-8")
    argv = [*_CLI, "start", "--no-mdns", "--host", "127.0.0.1", "--port", "0", "--coap-host", "127.0.0.1",
            "--coap-port", "0", "--data-dir", str(tmp_path / "gw"), "--node-id", "gw-0", "--config", str(config),
            "--fl-coordinator", coordinator, "--fl-insecure", "--fl-port", str(edge_port)]
    return LoggedProcess(argv, env=env, name="gateway")




def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read().decode()


def _status(data_dir) -> dict:
    out = CliRunner().invoke(app, ["fl", "status", "--data-dir", str(data_dir), "--format", "json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


async def _scenario(tmp_path, env):
    coord = FlCoordinator(HostConfig(tmp_path / "coord", port=free_port(), insecure=True), env=env)
    edge_port = free_port()
    cam = SuperNodeSupervisor(f"127.0.0.1:{edge_port}", tmp_path / "cam0" / "fl", runtime_port=free_port(), env=env,
                              insecure=True, node_config={"node-name": "cam-0", "task": TINY, "samples-npz": str(
                                  toy_npz(tmp_path / "cam0.npz", 200, seed=1))})
    job = CloudJob(task=TINY, base_version="3", rounds=1, local_rounds=1, epochs=1, seed=7, min_nodes=1,
                   deadline_s=120.0, edge_deadline_s=60.0, wait_nodes_s=90.0, publish="none")
    gw: LoggedProcess | None = None
    tree: list[int] = []
    try:
        await coord.start()
        t0 = time.monotonic()
        gw = _gateway(tmp_path, coord.address, edge_port, env)
        router = (await asyncio.to_thread(gw.wait_for, _ROUTING, 60.0)).group(1)
        await asyncio.to_thread(gw.wait_for, r"aiotwin-gateway ready", READY_S)
        ready_s = time.monotonic() - t0
        await cam.start()
        await coord.wait_for_nodes(1, timeout_s=90.0)
        t0 = time.monotonic()
        result = await coord.run_job(job, load_task(TINY, seed=7).get_weights())
        round_s = time.monotonic() - t0
        status = await asyncio.to_thread(_status, tmp_path / "gw")
        metrics = await asyncio.to_thread(_get, f"{router}/metrics")
        tree = [gw.proc.pid, *descendants(gw.proc.pid)]
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(gw.wait, 90.0)
        stop_s = time.monotonic() - t0
        return {"result": result, "status": status, "metrics": metrics, "tree": tree, "rc": rc, "log": gw.log,
                "times": (ready_s, round_s, stop_s), "edge": f"127.0.0.1:{edge_port}"}
    finally:
        await cam.shutdown()
        if gw is not None:  # only after a failure is anything of the gateway left
            for pid in [*tree, *(descendants(gw.proc.pid) if gw.proc.poll() is None else [])]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            gw.stop()
        await coord.shutdown()


def test_the_gateway_daemon_runs_a_global_round_and_stops_its_flower_processes(tmp_path, flower_env):
    out = asyncio.run(_scenario(tmp_path, flower_env))
    ready_s, round_s, stop_s = out["times"]
    print(f"gateway ready in {ready_s:.1f} s, global round {round_s:.1f} s, SIGTERM → exit in {stop_s:.1f} s")

    result = out["result"]
    assert result.status["state"] == "done" and result.status["version"] == "4", result.status
    (rec,) = result.rounds
    assert rec["aggregated"] and rec["quorum_met"] and len(rec["accepted"]) == 1, rec
    (gw_node,) = rec["accepted"]
    assert rec["clients"][gw_node]["node-name"] == "gw-0"

    status = out["status"]
    assert status["federation"]["state"] == "running" and status["federation"]["gateway-id"] == "gw-0"
    assert status["federation"]["edge-superlink"] == out["edge"]
    assert status["edge"]["runs-by-state"] == {"done": 1} and status["bridge"]["runs-by-state"] == {"done": 1}
    assert [n["name"] for n in status["edge"]["nodes"]] == ["cam-0"]
    assert status["edge"]["runs"][0]["aggregated"] == 1
    for series in ('aiotwin_gateway_fl_edge_runs{state="done"} 1.0', "aiotwin_gateway_fl_edge_serverapp_up 1.0",
                   'aiotwin_gateway_fl_global_rounds{state="done"} 1.0', "aiotwin_gateway_fl_edge_nodes 1.0",
                   'aiotwin_router_instances{state="healthy"}'):
        assert series in out["metrics"], series

    assert out["rc"] == 0, out["log"]
    assert "aiotwin-gateway stopped" in out["log"]
    assert len(out["tree"]) >= 6, out["tree"]  # daemon, SuperLink, SuperExec, ServerApp, SuperNode, SuperExec
    leftovers = [p for p in out["tree"] if process_alive(p)]
    assert not leftovers, leftovers
    state = json.loads((tmp_path / "gw" / "fl" / "federation.json").read_text())
    assert state["state"] == "stopped"
