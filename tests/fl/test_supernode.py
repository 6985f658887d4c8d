"""The camera node's side: SuperNode supervision (restart with backoff), daemon wiring, the sample store source.

No SuperLink is needed: a SuperNode pointed at a closed port keeps retrying and stays up.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import tomllib

import numpy as np
import pytest

from aiotwin.bundle import MANIFEST, default_bundle_dir
from aiotwin.flower import ClientTrainError, descendants
from aiotwin.retry import Backoff
from device_runtime.fl import SuperNodeSupervisor
from tests._procs import process_alive
from tests.fl.conftest import free_port, needs_flower

UP_TIMEOUT_S = 60.0


async def _until(pred, timeout=UP_TIMEOUT_S):
    give_up = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < give_up, "condition not met in time"
        await asyncio.sleep(0.2)




@needs_flower
def test_a_dead_supernode_is_restarted_with_backoff_and_stopped_with_its_tree(tmp_path, flower_env):
    backoffs = []
    backoff = Backoff(base_s=0.2, cap_s=0.5, rng=random.Random(1), on_backoff=lambda n, d: backoffs.append(n))
    node = SuperNodeSupervisor(f"127.0.0.1:{free_port()}", tmp_path / "fl", runtime_port=free_port(),
                               node_config={"node-name": "cam-1", "samples-npz": "/nonexistent.npz"},
                               backoff=backoff, env=flower_env, insecure=True)

    async def main():
        try:
            await node.start()
            first = node.pid
            await asyncio.sleep(2.0)
            assert node.running
            os.kill(first, signal.SIGKILL)
            await _until(lambda: node.restarts == 1 and node.running)
            assert node.pid != first and backoffs == [1]
            await _until(lambda: descendants(node.pid))  # its SuperExec is up
            return first, node.pid, descendants(node.pid)
        finally:
            await node.shutdown()

    first, second, tree = asyncio.run(main())
    assert not process_alive(first) and not process_alive(second) and not any(process_alive(p) for p in tree)
    config = tomllib.loads((tmp_path / "fl" / "node-config.toml").read_text())
    assert config == {"node-name": "cam-1", "samples-npz": "/nonexistent.npz"}
    assert (tmp_path / "fl" / "supernode.log").stat().st_size > 0


def test_tls_needs_the_ca_and_checks_the_files_before_starting(tmp_path):
    from aiotwin._exceptions import NodeSetupError
    from aiotwin.flower.pki import dev_pki, write_node_key

    with pytest.raises(NodeSetupError, match="root_certificates"):
        SuperNodeSupervisor("127.0.0.1:1", tmp_path, runtime_port=1, node_config={})
    with pytest.raises(NodeSetupError, match="insecure"):
        SuperNodeSupervisor("127.0.0.1:1", tmp_path, runtime_port=1, node_config={}, insecure=True,
                            root_certificates=tmp_path / "ca.pem")
    tls = dev_pki(tmp_path / "pki")
    key = write_node_key(tmp_path / "keys")
    node = SuperNodeSupervisor("127.0.0.1:1", tmp_path, runtime_port=1, node_config={},
                               root_certificates=tls.ca_cert, auth_key=key.private)
    args = node.security_args()
    assert args[args.index("--root-certificates") + 1] == str(tls.ca_cert.resolve())
    assert args[args.index("--auth-supernode-private-key") + 1] == str(key.private.resolve())
    assert "--insecure" not in args
    missing = SuperNodeSupervisor("127.0.0.1:1", tmp_path, runtime_port=1, node_config={},
                                  root_certificates=tls.ca_cert, auth_key=tmp_path / "nope")
    with pytest.raises(NodeSetupError, match="nope"):
        missing.security_args()
    not_a_ca = SuperNodeSupervisor("127.0.0.1:1", tmp_path, runtime_port=1, node_config={},
                                   root_certificates=key.public)
    with pytest.raises(NodeSetupError, match="certificate"):
        not_a_ca.security_args()


needs_bundle = pytest.mark.skipif(not (default_bundle_dir("edge") / MANIFEST).is_file(), reason="no shipped bundle")


@needs_flower
@needs_bundle
def test_the_daemon_runs_a_supernode_only_when_fl_is_enabled(tmp_path, flower_env):
    from device_runtime.config import DeviceConfig, FlConfig, MetricsConfig
    from device_runtime.daemon import DeviceNode, NodeOptions

    async def run(fl: FlConfig):
        cfg = DeviceConfig(data_dir=tmp_path / "data", metrics=MetricsConfig(port=0), variant="onnx-fp32",
                           node_id="cam-node-3", fl=fl)
        node = DeviceNode(cfg, NodeOptions(live=False, env=flower_env))
        try:
            await node.start()
            return (node.fl is not None and node.fl.running), (dict(node.fl.node_config) if node.fl else None)
        finally:
            await node.shutdown()

    assert asyncio.run(run(FlConfig())) == (False, None)
    from aiotwin.flower.pki import dev_pki, load_node_private_key

    ca = dev_pki(tmp_path / "pki").ca_cert
    running, config = asyncio.run(run(FlConfig(enabled=True, superlink=f"127.0.0.1:{free_port()}",
                                               runtime_port=free_port(), root_certificates=ca)))
    assert running
    key = tmp_path / "data" / "fl" / "keys" / "flwr-node"  # the node generated its Flower key on first start
    load_node_private_key(key)
    assert key.stat().st_mode & 0o777 == 0o600 and key.with_name("flwr-node.pub").is_file()
    assert config["node-name"] == "cam-node-3" and config["task"] == "aiotwin.models.vehicle:VehicleClassifier"
    assert config["sample-source"] == "device_runtime.fl.samples:load"
    assert config["data-dir"] == str(tmp_path / "data") and config["model-version"] >= 1


def test_fl_config_section_loads_and_needs_a_superlink(tmp_path):
    from aiotwin._exceptions import NodeSetupError
    from aiotwin.bundle import load_bundle
    from device_runtime.config import load_device_config
    from device_runtime.fl import supernode_for

    path = tmp_path / "device.toml"
    path.write_text('[fl]\nenabled = true\nruntime-port = 9195\nsamples-npz = "s.npz"\n')
    cfg = load_device_config(path)
    assert cfg.fl.enabled and cfg.fl.runtime_port == 9195 and cfg.fl.samples_npz == tmp_path / "s.npz"
    with pytest.raises(NodeSetupError, match="superlink"):
        supernode_for(cfg, "n", load_bundle(default_bundle_dir("edge")).manifest)


def test_the_sample_store_is_read_while_the_daemon_holds_it(tmp_path):
    pytest.importorskip("cv2")
    from device_runtime.fl.samples import load
    from device_runtime.samples import SAMPLES_FILE, Sample, SampleStore

    with pytest.raises(ClientTrainError, match="no sample store"):
        load({"data-dir": str(tmp_path)}, ["car", "bus"], (8, 8))
    store = SampleStore(tmp_path / SAMPLES_FILE)  # the daemon's writer: holds the lock
    try:
        for i, label in enumerate(["car", "bus", None, "tractor", "bus"]):
            img = np.full((20, 30, 3), 40 * i, np.uint8)
            store.add(img, Sample("cam", i, label, "offload", 0.5, "offload-answer", 2))
        x, y = load({"data-dir": str(tmp_path)}, ["car", "bus"], (8, 8))
    finally:
        store.close()
    assert x.shape == (3, 8, 8, 3) and y.tolist() == [0, 1, 1]
    assert x[2, 0, 0].tolist() == [160, 160, 160]
