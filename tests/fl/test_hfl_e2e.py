"""Hierarchical FL end to end on loopback: coordinator → 2 gateways → 2 cameras each, real Flower processes.

The coordinator (:class:`cloud_coordinator.fl.FlCoordinator`: SuperLink + global ServerApp), two
gateways (:class:`gateway.fl.GatewayFederation`: edge SuperLink + edge ServerApp + bridge +
cloud-tier SuperNode) and four camera SuperNodes run the tiny numpy task on non-IID toy data for 2
global rounds with ``local_rounds=1``. Both tiers run TLS with SuperNode authentication: one test
CA signs the coordinator's and each gateway's SuperLink certificate; every gateway and camera has
its own Flower key, authorized (:func:`aiotwin.flower.auth.authorize_node`) before the SuperLinks
start, which register them at bring-up. Slow: ~10–20 s per global round on a loaded 2-core host,
plus ~30–60 s to start ~20 Flower processes. Every process is stopped in ``finally``.
"""

from __future__ import annotations

import asyncio
import csv
import json

import numpy as np
import pytest

from aiotwin.flower import descendants
from aiotwin.flower.auth import authorize_node
from aiotwin.flower.host import HostConfig
from aiotwin.flower.pki import dev_pki, write_node_key
from aiotwin.flower.samples import save_npz_samples
from aiotwin.flower.supernode import SuperNodeSupervisor
from aiotwin.models import ArrayStore, load_task
from aiotwin.models.data import toy_store
from cloud_coordinator.fl import CloudJob, CloudRunDir, FlCoordinator, export_run
from gateway.fl import EdgeDefaults, FederationConfig, GatewayFederation
from tests._procs import process_alive
from tests.fl.conftest import TINY, TOY_SIZE, flat, free_port, needs_flower

pytestmark = [pytest.mark.slow, needs_flower, pytest.mark.timeout(420)]

# Non-IID: each camera sees only some classes (cam-3 sees all); the holdout has every class.
CAMERA_CLASSES = ({0, 1, 2, 3}, {2, 3, 4, 5}, {0, 1, 4, 5}, {0, 1, 2, 3, 4, 5})


def _camera_npz(path, i):
    store = toy_store(400, seed=i + 1, size=TOY_SIZE)
    _, y = store.arrays()
    save_npz_samples(path, store.subset(np.isin(y, sorted(CAMERA_CLASSES[i]))))
    return path


def _accuracy(weights, holdout) -> float:
    task = load_task(TINY, seed=7)
    task.set_weights(weights)
    return float(task.evaluate(holdout)["accuracy"])


async def _federation(tmp_path, env):
    pki = tmp_path / "pki"
    coord = FlCoordinator(HostConfig(tmp_path / "coord", port=free_port(), tls=dev_pki(pki, name="coord")), env=env)
    gateways = [
        GatewayFederation(FederationConfig(tmp_path / f"gw{g}", coordinator=coord.address, gateway_id=f"gw-{g}",
                                           port=free_port(), cloud_runtime_port=free_port(),
                                           edge=EdgeDefaults(min_nodes=2, wait_nodes_s=90.0),
                                           tls=dev_pki(pki, name=f"gw{g}"), coordinator_ca=pki / "ca.pem"), env=env)
        for g in range(2)
    ]
    for g, gw in enumerate(gateways):  # the gateway's cloud-tier key, registered at the coordinator
        key = gw.config.cloud_key
        write_node_key(key.private.parent, name=key.private.name)
        authorize_node(tmp_path / "coord", key.public, name=f"gw-{g}")
    cameras = []
    for i in range(4):
        key = write_node_key(tmp_path / f"cam{i}" / "keys")
        authorize_node(tmp_path / f"gw{i // 2}" / "edge", key.public, name=f"cam-{i}")
        cameras.append(SuperNodeSupervisor(
            gateways[i // 2].edge_address, tmp_path / f"cam{i}" / "fl", runtime_port=free_port(), env=env,
            root_certificates=pki / "ca.pem", auth_key=key.private,
            node_config={"node-name": f"cam-{i}", "task": TINY,
                         "samples-npz": str(_camera_npz(tmp_path / f"cam{i}.npz", i))}))
    return coord, gateways, cameras


async def _run(tmp_path, env):
    coord, gateways, cameras = await _federation(tmp_path, env)
    holdout_path = tmp_path / "holdout.npz"
    save_npz_samples(holdout_path, toy_store(300, seed=99, size=TOY_SIZE))
    job = CloudJob(task=TINY, base_version="3", rounds=2, local_rounds=1, epochs=1, seed=7, min_nodes=2,
                   deadline_s=150.0, edge_deadline_s=60.0, wait_nodes_s=120.0, holdout_npz=holdout_path)
    initial = load_task(TINY, seed=7).get_weights()
    pids: list[int] = []
    try:
        await asyncio.gather(coord.start(), *(g.aggregator.start() for g in gateways))
        for g in gateways:
            await g.bridge.start()
            await g.supernode.start()
        for cam in cameras:
            await cam.start()
        await coord.wait_for_nodes(2, timeout_s=120.0)
        for g in gateways:
            await g.aggregator.wait_for_nodes(2, timeout_s=120.0)
        for proc in (coord.superlink_pid, *(g.aggregator.superlink_pid for g in gateways),
                     *(g.supernode.pid for g in gateways), *(c.pid for c in cameras)):
            pids += [proc, *descendants(proc)] if proc else []
        result = await coord.run_job(job, initial)
        published = await coord.wait_published(result.run_id, timeout_s=60.0)
    finally:
        for cam in cameras:
            await cam.shutdown()
        for g in gateways:
            await g.shutdown()
        await coord.shutdown()
    return initial, result, pids, published


def test_two_tier_federation_improves_the_global_model(tmp_path, flower_env):
    initial, result, pids, published = asyncio.run(_run(tmp_path, flower_env))

    assert result.status["state"] == "done" and result.aggregated_rounds == 2, result.status
    assert result.status["version"] == "5"
    for rec, version in zip(result.rounds, ("3", "4"), strict=True):
        assert rec["base_version"] == version and rec["quorum_met"] and rec["aggregated"], rec
        assert len(rec["accepted"]) == 2 and not rec["rejected"] and not rec["missing"]
        assert {c["node-name"] for c in rec["clients"].values()} == {"gw-0", "gw-1"}
        assert rec["num_examples"] == sum(c["num-examples"] for c in rec["clients"].values())

    holdout = ArrayStore(*toy_store(300, seed=99, size=TOY_SIZE).arrays())
    before, after = _accuracy(initial, holdout), _accuracy(result.weights, holdout)
    assert not np.allclose(flat(result.weights), flat(initial))
    assert after > before + 0.2, (before, after)
    assert result.status["final_eval"]["accuracy"] == pytest.approx(after)

    run = CloudRunDir(result.path)
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert [m["version_out"] for m in metrics] == ["4", "5"]
    for m in metrics:
        assert m["gateways_accepted"] == 2 and m["cameras_participating"] == 4
        assert m["bytes_wan_down"] > 0 and m["bytes_wan_up"] > 0 and m["bytes_edge_up"] > 0
        assert m["bytes_edge_down"] > 0 and m["duration_s"] > 0 and m["accuracy"] is not None
    rows = list(csv.DictReader((run.path / "metrics.csv").read_text().splitlines()))
    assert len(rows) == 2 and float(rows[-1]["accuracy"]) == pytest.approx(after)
    record = run.read_record()
    assert record["round-seeds"] == [7001, 7002] and record["job"]["local-rounds"] == 1
    assert record["edge-request"]["bridge-timeout-s"] < record["job"]["deadline-s"] < record["message-ttl-s"]

    # publish = "final" (the default): the daemon tried; the numpy task has no bundle export, the run stays done
    assert published["round-0002"]["state"] == "skipped" and "no bundle export" in published["round-0002"]["reason"]
    assert run.read_status()["state"] == "done"

    report = export_run(run, tmp_path / "export")
    with np.load(report["weights"]) as data:
        assert np.allclose(flat([data[k] for k in sorted(data.files)]), flat(result.weights))
    print(f"HFL e2e: accuracy {before:.3f} -> {after:.3f}; rounds "
          f"{[round(r['duration_s'], 1) for r in result.rounds]} s")

    leftovers = [p for p in pids if process_alive(p)]
    assert not leftovers, leftovers
