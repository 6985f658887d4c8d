"""The edge tier over TLS with SuperNode authentication, on loopback with real Flower processes.

One SuperLink (TLS, ``--enable-supernode-auth``) and two SuperNodes with their own ECDSA keys:
cam-0's key is authorized before the SuperLink starts (registered at bring-up), cam-1's is not.
One round runs with cam-0 alone while cam-1 is refused (its SuperNode exits, the supervisor
retries); then cam-1's key is registered with the scriptable step (``python -m gateway.fl
register-node``) and cam-1 gets in. Certificates and keys are generated in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from aiotwin.flower import EdgeJob
from aiotwin.flower.auth import CLI_HOME, authorize_node, list_nodes
from aiotwin.flower.pki import dev_pki, write_node_key
from aiotwin.models import load_task
from aiotwin.retry import Backoff
from device_runtime.fl import SuperNodeSupervisor
from gateway.fl import EdgeAggregator, EdgeAggregatorConfig
from gateway.fl.__main__ import main as gateway_fl_main
from tests.fl.conftest import TINY, free_port, needs_flower, toy_npz

pytestmark = [pytest.mark.slow, needs_flower, pytest.mark.timeout(300)]


async def _run(tmp_path, env):
    tls = dev_pki(tmp_path / "pki")
    work = tmp_path / "gw"
    agg = EdgeAggregator(EdgeAggregatorConfig(work, port=free_port(), tls=tls), env=env)
    keys = [write_node_key(tmp_path / f"cam{i}" / "keys", name="flwr-node") for i in range(2)]
    early = authorize_node(work, keys[0].public, name="cam-0")  # before the SuperLink runs: stored only
    assert early.node_id is None and early.error
    nodes = [
        SuperNodeSupervisor(agg.address, tmp_path / f"cam{i}" / "fl", runtime_port=free_port(), env=env,
                            root_certificates=tls.ca_cert, auth_key=keys[i].private,
                            backoff=Backoff(base_s=0.5, cap_s=2.0, rng=random.Random(i)),
                            node_config={"node-name": f"cam-{i}", "task": TINY,
                                         "samples-npz": str(toy_npz(tmp_path / f"s{i}.npz", 200, seed=i + 1))})
        for i in range(2)
    ]
    job = EdgeJob(task=TINY, base_version="1", rounds=1, epochs=1, seed=3, min_nodes=1, deadline_s=60.0,
                  wait_nodes_s=60.0)
    t0 = time.monotonic()
    try:
        await agg.start()
        assert set(agg.node_ids) == {"cam-0"}
        for node in nodes:
            await node.start()
        await agg.wait_for_nodes(1, timeout_s=60.0)
        result = await agg.run_job(job, load_task(TINY, seed=3).get_weights())
        refused_before = nodes[1].refusals
        connected_before = agg.connected_nodes()
        # the scriptable registration step, against the running SuperLink
        code = await asyncio.to_thread(gateway_fl_main, ["register-node", "--work-dir", str(work),
                                                         "--public-key", str(keys[1].public), "--name", "cam-1"])
        assert code == 0
        both = await agg.wait_for_nodes(2, timeout_s=60.0)
        listed = await asyncio.to_thread(list_nodes, work / CLI_HOME)
        return result, refused_before, connected_before, both, listed, agg.node_ids, time.monotonic() - t0
    finally:
        for node in nodes:
            await node.shutdown()
        await agg.shutdown()


def test_only_registered_supernodes_take_part(tmp_path, flower_env):
    result, refused, connected, both, listed, node_ids, took = asyncio.run(_run(tmp_path, flower_env))
    print(f"TLS+auth edge run: {took:.1f} s")

    (rec,) = result.rounds
    assert rec["aggregated"] and rec["quorum_met"]
    assert rec["connected"] == [str(node_ids["cam-0"])] or [int(n) for n in rec["connected"]] == [node_ids["cam-0"]]
    assert {c["node-name"] for c in rec["clients"].values()} == {"cam-0"}
    assert refused >= 1  # cam-1's SuperNode was turned away at least once
    assert [int(n) for n in connected] == [node_ids["cam-0"]]
    assert len(both) == 2  # registered, it got in
    online = {int(n["node-id"]) for n in listed if n.get("status") == "online"}
    assert node_ids["cam-0"] in online and len(online) == 2
    assert (tmp_path / "gw" / "authorized-nodes" / "cam-1.pub").is_file()
