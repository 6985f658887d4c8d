"""A camera node, a gateway and an inference instance as real processes on 127.0.0.1.

``aiotwin-gateway serve`` (the shipped cloud bundle) behind ``aiotwin-gateway start`` (router +
CoAP uplink); ``aiotwin-device start`` with a synthetic camera, ``[uplink]`` pointed at the
gateway and ``[offload]`` at the router with a threshold of 1.0 (every crop is "unsure"). The
node's count events reach the gateway's event store, some answered by the gateway's model
(``"model": "offload"``), and the offloaded crops are kept as gateway-labelled samples.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiotwin.bundle import default_bundle_dir, load_bundle
from tests._procs import LoggedProcess
from tests.gateway.serve.test_cli import Gateway

pytestmark = pytest.mark.slow

_PAUSE = threading.Event()
_DEVICE = [sys.executable, "-c", "from device_runtime.cli import main; main()"]
CLOUD = default_bundle_dir("cloud")


class Device(LoggedProcess):
    """An ``aiotwin-device`` subprocess."""

    def __init__(self, *args: str) -> None:
        super().__init__([*_DEVICE, *args], name="test-device")


@pytest.fixture
def procs() -> Iterator[Callable[[LoggedProcess], LoggedProcess]]:
    started: list[LoggedProcess] = []

    def keep(proc: LoggedProcess) -> LoggedProcess:
        started.append(proc)
        return proc

    try:
        yield keep
    finally:
        for proc in reversed(started):
            proc.stop()


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    for _ in range(int(timeout_s / 0.25)):
        if check():
            return
        _PAUSE.wait(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _rows(db: Path, query: str) -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
        try:
            return conn.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []


def test_events_flow_to_the_gateway_and_unsure_crops_are_answered_by_its_model(procs, tmp_path):
    if not (CLOUD / "manifest.json").is_file():
        pytest.skip("no cloud bundle")
    inst = procs(Gateway("serve", "--bundle", str(CLOUD), "--variant", "onnx-fp32", "--host", "127.0.0.1",
                         "--port", "0", "--no-mdns", "--node-id", "inst-1", "--max-wait-ms", "0"))
    inst_url = inst.wait_for(r"serving on (http://127\.0\.0\.1:\d+)").group(1)
    gw_dir = tmp_path / "gw"
    gw = procs(Gateway("start", "--host", "127.0.0.1", "--port", "0", "--no-mdns", "--instance", f"inst-1={inst_url}",
                       "--coap-host", "127.0.0.1", "--coap-port", "0", "--data-dir", str(gw_dir), "--node-id", "gw-1",
                       "--seed", "3"))
    router = gw.wait_for(r"routing on (http://127\.0\.0\.1:\d+)").group(1)
    coap = gw.wait_for(r"uplink (coap://127\.0\.0\.1:\d+)").group(1)
    gw.wait_for(r"\bready\b")

    data = tmp_path / "node"
    config = tmp_path / "device.toml"
    config.write_text(f'''node-id = "cam-node-1"
data-dir = "{data}"
[metrics]
port = 0
[uplink]
gateway = "{coap}"
[offload]
router = "{router}"
threshold = 1.0
budget-ms = 2000
probe-every-s = 0.5
[[cameras]]
id = "cam-1"
source = "synthetic:downtown?seed=5"
''', encoding="utf-8")
    dev = procs(Device("start", "--config", str(config)))
    dev.wait_for(r"\bready\b")

    store = gw_dir / "events.sqlite3"
    cloud_version = load_bundle(CLOUD).manifest.version

    def offloaded_counts_arrived() -> bool:
        bodies = [json.loads(b) for (b,) in _rows(store, "SELECT body FROM events")]
        return any(b.get("kind") == "count" and b.get("model") == "offload" for b in bodies)

    try:
        _until(offloaded_counts_arrived, 150.0, "count events answered by the gateway's model at the gateway")
    except AssertionError:
        stored = [json.loads(r[0]) for r in _rows(store, "SELECT body FROM events")]
        kinds = [(b.get("kind"), b.get("model")) for b in stored]
        raise AssertionError("events at the gateway: " + repr(kinds[:30]) + "\ndevice:\n" + "\n".join(dev.lines[-40:])
                             + "\ngateway:\n" + "\n".join(gw.lines[-20:])) from None
    dev.proc.send_signal(signal.SIGTERM)
    assert dev.wait() == 0
    bodies = [json.loads(b) for (b,) in _rows(store, "SELECT body FROM events")]
    counts = [b for b in bodies if b["kind"] == "count"]
    offloaded = [b for b in counts if b["model"] == "offload"]
    assert offloaded and all(b["model_version"] == cloud_version and b["variant"] == "remote" for b in offloaded)
    assert all(b["camera_id"] == "cam-1" for b in counts)
    assert len({b["id"] for b in bodies}) == len(bodies)  # stored once each
    samples = _rows(data / "samples.sqlite3", "SELECT label_source, label FROM samples")
    assert ("offload" in {s for s, _ in samples}), samples
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.wait() == 0
