"""``aiotwin-device start``: real daemon processes over real HTTP, SIGTERM, config errors, model swap.

Every process a test starts is stopped in a ``finally`` (fixture :func:`nodes`), pass or fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from aiotwin._exceptions import BundleError
from aiotwin.bundle import MANIFEST, default_bundle_dir, load_bundle
from aiotwin.exitcodes import ExitCode
from aiotwin.wire import decode_event
from device_runtime._model import LoadedModel
from device_runtime.config import CameraConfig, DeviceConfig, MetricsConfig
from device_runtime.identity import node_id_from_serial, resolve_identity
from tests._procs import READY_TIMEOUT_S, STOP_TIMEOUT_S, LoggedProcess

EVENTS_TIMEOUT_S = 120.0
_CLI = [sys.executable, "-c", "from device_runtime.cli import main; main()"]
_LISTEN = re.compile(r"metrics listening on (http://127\.0\.0\.1:\d+)")

_PAUSE = threading.Event()  # never set: .wait(s) is a sleep the banned-API rule accepts


def _pause(seconds: float) -> None:
    _PAUSE.wait(seconds)


needs_runtime = pytest.mark.skipif(
    not (default_bundle_dir("edge") / MANIFEST).is_file(), reason="no shipped bundle (models build not run)"
)


class Node(LoggedProcess):
    """A daemon subprocess whose stderr is collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        super().__init__([*_CLI, "start", "--no-live", *args], env=env, name="test-node")

    def url(self) -> str:
        return self.wait_for(_LISTEN.pattern).group(1)

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        self.stop()


@pytest.fixture
def nodes():
    started: list[Node] = []

    def _start(*args: str, env: dict[str, str] | None = None) -> Node:
        node = Node(list(args), env)
        started.append(node)
        return node

    try:
        yield _start
    finally:
        for node in started:
            node.kill()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric_values(text: str) -> dict[str, float]:
    """``name{labels}`` → value, parsed with prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def total(values: dict[str, float], name: str) -> float:
    return sum(v for k, v in values.items() if k.startswith(name + "{"))


def events_json(data_dir: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([*_CLI, "events", "--data-dir", str(data_dir), "--format", "json", "--limit",
                           "100000"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    events: list[dict[str, Any]] = json.loads(proc.stdout)
    return events


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(text)
    return path


# -- the demo, end to end -------------------------------------------------------------------------

EXPECTED_METRICS = (
    "aiotwin_frames_processed_total", "aiotwin_frames_read_total", "aiotwin_frames_dropped_total",
    "aiotwin_camera_fps", "aiotwin_stage_latency_seconds_bucket", "aiotwin_inference_latency_seconds_count",
    "aiotwin_outbox_depth", "aiotwin_outbox_events_stored_total", "aiotwin_outbox_events_dropped_total",
    "aiotwin_outbox_events_expired_total", "aiotwin_source_reconnects_total", "aiotwin_camera_state",
    "aiotwin_model_info", "process_resident_memory_bytes",
)


@needs_runtime
def test_demo_serves_health_and_metrics_and_stops_cleanly_on_sigterm(nodes, tmp_path) -> None:
    data = tmp_path / "data"
    node = nodes("--demo", "--port", "0", "--data-dir", str(data))
    node.wait_for(r"aiotwin-device ready")
    base = node.url()
    deadline = time.monotonic() + EVENTS_TIMEOUT_S
    while True:  # until the camera streams and the first events are committed
        status, body = http_get(f"{base}/healthz")
        values = metric_values(http_get(f"{base}/metrics")[1])
        stored = total(values, "aiotwin_outbox_events_stored_total")
        if status == 200 and stored > 0:
            break
        assert time.monotonic() < deadline, f"no events after {EVENTS_TIMEOUT_S} s: {body}\n{node.log}"
        _pause(0.5)
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["cameras"]["demo-1"]["state"] == "streaming"
    assert health["variant"] and health["uptime_s"] > 0
    names = {k.split("{")[0] for k in values}
    assert not set(EXPECTED_METRICS) - names
    assert values['aiotwin_camera_state{aiotwin_camera_state=streaming,camera=demo-1}'] == 1.0
    assert total(values, "aiotwin_frames_processed_total") > 0
    assert node.terminate() == ExitCode.SUCCESS
    node.wait(STOP_TIMEOUT_S)
    assert "aiotwin-device stopped" in node.log
    events = events_json(data)
    assert len(events) >= stored
    for e in events:
        decode_event(json.dumps(e).encode())  # every listed event is a valid wire event


@needs_runtime
def test_two_synthetic_cameras_stop_by_themselves_after_n_frames(nodes, tmp_path) -> None:
    pytest.importorskip("cv2")
    cfg = write_config(tmp_path, """
data-dir = "data"
[metrics]
port = 0
[[cameras]]
id = "north"
source = "synthetic:downtown?seed=5"
fps = 25
# seeds 5 and 7 each have a crossing within 150 frames (`aiotwin-device run --frames 150`); paced at
# 25 fps so a loaded machine drops no frames (fps = 0 races the renderer against the pipeline)
[[cameras]]
id = "south"
source = "synthetic:downtown?seed=7"
fps = 25
""")
    node = nodes("--config", str(cfg), "--frames", "150")
    assert node.wait(READY_TIMEOUT_S + 120) == ExitCode.SUCCESS, node.log
    for cam in ("north", "south"):
        assert f"camera {cam} finished after 150 frames" in node.log
    events = events_json(tmp_path / "data")
    assert events, node.log
    assert {e["camera_id"] for e in events} <= {"north", "south"}


# -- errors with their exit codes -----------------------------------------------------------------

def test_bad_config_lists_every_error_and_exits_4(nodes, tmp_path) -> None:
    cfg = write_config(tmp_path, """
threads = "two"
colour = "blue"
[metrics]
port = "x"
[[cameras]]
source = "rtsp://cam/1"
""")
    node = nodes("--config", str(cfg))
    assert node.wait(60) == ExitCode.CONFIG_INVALID
    log = node.log
    for key, line in (("threads", 2), ("colour", 3), ("metrics/port", 5), ("cameras[0]/id", None)):
        where = f"{cfg}:{line} {key}" if line else key
        assert where in log, log
    assert "Traceback" not in log


def test_cross_checks_report_all_problems_with_lines_and_exit_4(nodes, tmp_path) -> None:
    cfg = write_config(tmp_path, """
node-id = "bad id!"
[[cameras]]
id = "a"
source = "ftp://nowhere/x"
[[cameras]]
id = "a"
source = "synthetic:nowhere-town?seed=1"
""")
    node = nodes("--config", str(cfg))
    assert node.wait(60) == ExitCode.CONFIG_INVALID
    log = node.log
    assert f"{cfg}:2 node-id" in log
    assert "camera id 'a' is used 2 times" in log
    assert f"{cfg}:5 cameras[0]/source" in log
    assert f"{cfg}:8 cameras[1]/source" in log


def test_port_in_use_exits_with_its_code(nodes, tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        node = nodes("--demo", "--port", str(port), "--data-dir", str(tmp_path))
        assert node.wait(READY_TIMEOUT_S) == ExitCode.DEVICE_PORT_IN_USE
    assert f"127.0.0.1:{port} is already in use" in node.log


def test_corrupt_outbox_exits_with_its_code(nodes, tmp_path) -> None:
    (tmp_path / "outbox.sqlite3").write_bytes(b"garbage" * 1000)
    node = nodes("--demo", "--port", "0", "--data-dir", str(tmp_path))
    assert node.wait(READY_TIMEOUT_S) == ExitCode.DEVICE_OUTBOX_ERROR
    assert "corrupt or not an SQLite database" in node.log


def test_unwritable_data_dir_exits_with_its_code(nodes, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data dir should be")
    node = nodes("--demo", "--port", "0", "--data-dir", str(blocker / "data"))
    assert node.wait(READY_TIMEOUT_S) == ExitCode.DEVICE_DATA_DIR_INVALID
    assert f"data dir {blocker / 'data'} is unusable" in node.log


@needs_runtime
def test_a_variant_the_runtime_cannot_load_exits_with_the_engine_code(nodes, tmp_path) -> None:
    from aiotwin.bundle import sha256_file

    bundle = shutil.copytree(default_bundle_dir("edge"), tmp_path / "bundle")
    manifest = json.loads((bundle / MANIFEST).read_text())
    entry = manifest["variants"]["onnx-fp32"]
    (bundle / entry["file"]).write_bytes(b"not an onnx model")  # manifest updated: verification passes
    entry["sha256"], entry["size"] = sha256_file(bundle / entry["file"]), len(b"not an onnx model")
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    cfg = write_config(tmp_path, f"""
data-dir = "data"
bundle = "{bundle}"
variant = "onnx-fp32"
[metrics]
port = 0
[[cameras]]
id = "a"
source = "synthetic:downtown"
""")
    node = nodes("--config", str(cfg), env={k: v for k, v in os.environ.items() if not k.startswith("AIOTWIN_")})
    assert node.wait(READY_TIMEOUT_S) == ExitCode.DEVICE_ENGINE_FAILED, node.log


def test_demo_and_config_exclude_each_other(nodes, tmp_path) -> None:
    node = nodes("--demo", "--config", str(tmp_path / "x.toml"))
    assert node.wait(60) == ExitCode.USAGE


# -- in-process: health 503, bundle swap ----------------------------------------------------------

def _config(tmp_path: Path, source: str, bundle: Path | None = None) -> DeviceConfig:
    return DeviceConfig(cameras=[CameraConfig(id="cam", source=source)], data_dir=tmp_path / "data",
                        bundle=bundle, metrics=MetricsConfig(port=0), variant="onnx-fp32")


async def _with_node(cfg: DeviceConfig, body) -> None:
    from device_runtime.daemon import DeviceNode, NodeOptions

    node = DeviceNode(cfg, NodeOptions(live=False, env={}))
    try:
        await node.start()
        await body(node)
    finally:
        await node.shutdown()


@needs_runtime
def test_health_is_503_while_no_camera_streams(tmp_path) -> None:
    async def body(node) -> None:
        assert node.http is not None
        status, text = await asyncio.to_thread(http_get, f"{node.http.url}/healthz")
        assert status == 503
        assert json.loads(text)["cameras"]["cam"]["state"] in ("connecting", "reconnecting")

    asyncio.run(_with_node(_config(tmp_path, str(tmp_path / "missing.avi")), body))


def _corrupt_copy(src: Path, dst: Path, variant: str) -> Path:
    shutil.copytree(src, dst)
    target = dst / load_bundle(dst).manifest.variants[variant].file
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return dst


@needs_runtime
def test_swap_bundle_refuses_a_corrupt_bundle_and_keeps_the_running_model(tmp_path) -> None:
    bundle = default_bundle_dir("edge")
    bad = _corrupt_copy(bundle, tmp_path / "bad", "onnx-fp32")
    good = tmp_path / "good"
    shutil.copytree(bundle, good)

    async def body(node) -> None:
        before = node.slot.model
        with pytest.raises(BundleError, match="sha256"):
            await node.swap_bundle(bad)
        assert node.slot.model is before  # the old engine stays
        probs = await asyncio.to_thread(node.slot.classify, _crops(before))
        assert probs.shape[0] == 2
        values = metric_values(node.metrics.render().decode())
        assert values["aiotwin_bundle_swaps_total{result=rejected}"] == 1.0
        new = await node.swap_bundle(good)
        assert node.slot.model is new and new.bundle.path == good
        assert all(p.manifest is new.bundle.manifest for p in node.pipelines)  # events carry the new version
        assert metric_values(node.metrics.render().decode())["aiotwin_bundle_swaps_total{result=ok}"] == 1.0

    asyncio.run(_with_node(_config(tmp_path, "synthetic:downtown?seed=1", bundle), body))


def _crops(model: LoadedModel) -> npt.NDArray[np.uint8]:
    spec = model.bundle.manifest.input
    return np.zeros((2, spec.height, spec.width, 3), dtype=np.uint8)


def test_source_loss_and_recovery_become_health_events_in_the_outbox(tmp_path) -> None:
    from device_runtime._metrics import NodeMetrics
    from device_runtime._worker import CameraWorker
    from device_runtime.outbox import Outbox

    metrics = NodeMetrics()
    with Outbox.open(tmp_path / "outbox.sqlite3") as outbox:
        worker = CameraWorker("cam", None, outbox.put, metrics)  # type: ignore[arg-type]  # no frames here
        for state, detail in [("connecting", "opening"), ("streaming", ""), ("reconnecting", "rtsp timeout"),
                              ("reconnecting", "open failed"), ("streaming", ""), ("ended", "stopped")]:
            worker.on_state(state, detail)
        events = outbox.list(10)
    assert [(e.kind, getattr(e, "condition", None), getattr(e, "active", None)) for e in events] == [
        ("health", "source_lost", True), ("health", "source_restored", False)]
    values = metric_values(metrics.render().decode())
    assert values["aiotwin_health_events_total{camera=cam,condition=source_lost}"] == 1.0
    assert values["aiotwin_camera_state{aiotwin_camera_state=ended,camera=cam}"] == 1.0
    assert worker.snapshot().state == "ended"


@needs_runtime
def test_drift_against_the_stored_reference_lands_in_the_outbox_once_with_gauges(tmp_path) -> None:
    from device_runtime.config import DriftConfig
    from device_runtime.drift import DRIFT_DIR, Reference, save_reference

    manifest = load_bundle(default_bundle_dir("edge")).manifest
    n = len(manifest.labels)  # the stored reference: nothing but unsure pedestrians (the last class)
    save_reference(tmp_path / "data" / DRIFT_DIR / "cam.json",
                   Reference(manifest.version, (0,) * (n - 1) + (50,), (50,) + (0,) * 9))
    cfg = replace(_config(tmp_path, "synthetic:downtown?seed=1"), drift=DriftConfig(enabled=True, reference=50,
                                                                                      window=10))
    cfg = replace(cfg, cameras=[replace(cfg.cameras[0], fps=0.0)])

    async def body(node) -> None:
        deadline = time.monotonic() + EVENTS_TIMEOUT_S
        drift: list[Any] = []
        while not drift and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            drift = [e for e in await asyncio.to_thread(node.outbox.list, 100000) if e.kind == "drift"]
        assert len(drift) == 1, "no drift event within the timeout"
        e = drift[0]
        assert (e.camera_id, e.model_version, e.metric, e.reference_size, e.window_size) == (
            "cam", manifest.version, "psi", 50, 10)
        assert e.divergence >= e.threshold == 0.25 and e.distribution in ("classes", "confidence", "both")
        values = metric_values((await asyncio.to_thread(node.metrics.render)).decode())
        assert values["aiotwin_drift_active{camera=cam}"] == 1.0  # the episode goes on: reported once
        assert values["aiotwin_drift_reports_total{camera=cam}"] == 1.0
        assert max(values[f"aiotwin_drift_divergence{{camera=cam,distribution={d}}}"]
                   for d in ("classes", "confidence")) >= 0.25 * 0.5

    asyncio.run(_with_node(cfg, body))


# -- identity -------------------------------------------------------------------------------------

def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_identity_prefers_the_soc_serial_and_never_an_address(tmp_path) -> None:
    root = _tree(tmp_path / "root", {
        "proc/device-tree/serial-number": b"1423019014882\x00",
        "sys/class/dmi/id/product_uuid": b"4c4c4544-0031-3510-8052-b4c04f4e3232\n",
        "etc/machine-id": b"0123456789abcdef0123456789abcdef\n",
    })
    ident = resolve_identity(None, root, tmp_path / "data")
    assert ident == type(ident)(node_id_from_serial("1423019014882"), "/proc/device-tree/serial-number")
    assert re.fullmatch(r"node-[0-9a-f]{16}", ident.node_id)


def test_identity_skips_placeholder_serials(tmp_path) -> None:
    root = _tree(tmp_path / "root", {
        "sys/class/dmi/id/product_uuid": b"03000200-0400-0500-0006-000700080009\n",
        "etc/machine-id": b"0123456789abcdef0123456789abcdef\n",
    })
    assert resolve_identity(None, root, tmp_path / "data").source == "/etc/machine-id"


def test_identity_without_serial_is_generated_once_and_kept(tmp_path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    first = resolve_identity(None, root, tmp_path / "data")
    assert first.source == "generated"
    assert resolve_identity(None, root, tmp_path / "data") == first
    assert resolve_identity("cam-node-17", root, tmp_path / "data").node_id == "cam-node-17"


def test_demo_data_dir_honours_xdg_state_home(tmp_path) -> None:
    from device_runtime.daemon import demo_config, demo_data_dir

    assert demo_data_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "aiotwin-demo"
    cfg = demo_config({"XDG_STATE_HOME": str(tmp_path)}, seed=7)
    assert cfg.cameras[0].source == "synthetic:downtown?seed=7"
    assert cfg.metrics.port == 0
    assert replace(cfg, node_id="x").node_id == "x"


def test_help_imports_no_heavy_backend() -> None:
    code = ("import sys; from device_runtime.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['start', '--help']); "
            "print(sorted(m for m in ('cv2', 'onnxruntime', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True, env={**os.environ})
    assert out.stdout.strip() == "[]"
