"""``aiotwin-gateway start`` as a real process in front of real ``aiotwin-gateway serve`` processes
(the shipped edge bundle) on 127.0.0.1: routing, QoS steering, a killed instance, mDNS discovery,
SIGTERM → exit 0, and the exit codes of setup errors. Every process is stopped pass or fail."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner

from aiotwin.bundle import load_bundle
from aiotwin.exitcodes import ExitCode
from gateway.cli import app
from tests.gateway.serve.conftest import EDGE, needs_engine, png
from tests.gateway.serve.test_cli import Gateway

_PAUSE = threading.Event()  # never set: .wait(s) is a sleep the banned-API rule accepts

_ROUTING = r"routing on (http://127\.0\.0\.1:\d+)"
_SERVING = r"serving on (http://127\.0\.0\.1:\d+)"
SLOW_DELAY_MS = 150  # > τ = 80 ms: the slow instance cannot meet the QoS, the fast one can

Start = Callable[..., Gateway]


@contextlib.contextmanager
def _processes() -> Iterator[Start]:
    """Start ``aiotwin-gateway`` processes; all are killed when the block ends, pass or fail."""
    started: list[Gateway] = []

    def _start(*args: str) -> Gateway:
        gw = Gateway(*args)
        started.append(gw)
        return gw

    try:
        yield _start
    finally:
        for gw in started:
            gw.stop()


@pytest.fixture
def procs() -> Iterator[Start]:
    """Processes of one test."""
    with _processes() as start:
        yield start


@pytest.fixture(scope="module")
def module_procs() -> Iterator[Start]:
    """Processes shared by the tests of this module."""
    with _processes() as start:
        yield start


def _instance(start: Start, node: str, *extra: str) -> tuple[Gateway, str]:
    gw = start("serve", "--bundle", str(EDGE), "--variant", "onnx-fp32", "--host", "127.0.0.1", "--port", "0",
               "--no-mdns", "--node-id", node, "--max-wait-ms", "0", *extra)
    return gw, gw.wait_for(_SERVING).group(1)


def _router(start: Start, *args: str) -> tuple[Gateway, str]:
    gw = start("start", "--host", "127.0.0.1", "--port", "0", "--seed", "7", "--no-coap", *args)
    url = gw.wait_for(_ROUTING).group(1)
    gw.wait_for(r"\bready\b")
    return gw, url


def _call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def _infer(router: str, crop: bytes, client: str, **headers: str) -> tuple[int, dict, dict]:
    return _call(f"{router}/v1/infer/vehicle", crop, {"Content-Type": "image/png", "X-Client-Id": client, **headers})


def _metrics(router: str) -> str:
    with urllib.request.urlopen(f"{router}/metrics", timeout=30) as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def pair(module_procs) -> str:
    """A router over a fast and a slow (+150 ms) instance; returns the router's URL."""
    _, fast = _instance(module_procs, "fast")
    _, slow = _instance(module_procs, "slow", "--service-delay-ms", str(SLOW_DELAY_MS))
    _, router = _router(module_procs, "--no-mdns", "--instance", f"fast={fast}", "--instance", f"slow={slow}")
    return router


@pytest.fixture(scope="module")
def crop() -> bytes:
    """One 64×64 PNG crop rendered by aiotwin.scenes (BGR for cv2)."""
    from aiotwin.scenes import crop_dataset

    x, _ = crop_dataset(["downtown"], [1], per_camera=2, size=64)
    return png(x[1][..., ::-1].copy())


@needs_engine
def test_requests_route_to_instances_and_return_labels(pair, crop):
    labels = set(load_bundle(EDGE).manifest.labels)
    status, answer, headers = _infer(pair, crop, "cam-labels", **{"X-Deadline-Ms": "2000"})
    assert status == 200
    assert answer["labels"][0] in labels
    assert answer["instance"] in {"fast", "slow"}
    assert answer["instance"] == headers["X-Aiotwin-Instance"] == answer["node_id"]
    assert answer["model"] == "vehicle-edge"


@needs_engine
def test_bad_headers_are_400_and_bad_input_passes_through_without_harming_the_instance(pair, crop):
    status, answer, _ = _call(f"{pair}/v1/infer/vehicle", crop, {"Content-Type": "image/png"})
    assert status == 400
    assert "X-Client-Id" in answer["error"]
    assert _infer(pair, crop, "cam-bad", **{"X-Deadline-Ms": "0"})[0] == 400
    status, answer, _ = _infer(pair, b"junk", "cam-bad")
    assert status == 400  # the instance's own answer, passed through
    assert answer["instance"] in {"fast", "slow"}
    _, listing, _ = _call(f"{pair}/v1/instances")
    assert {i["state"] for i in listing["instances"]} == {"healthy"}


@needs_engine
def test_the_slow_instance_gets_fewer_requests_under_qedgeproxy(pair, crop):
    counts = Counter(_infer(pair, crop, "cam-qos")[1]["instance"] for _ in range(60))
    assert counts["fast"] > 2 * counts["slow"], counts
    _, est, _ = _call(f"{pair}/v1/qos/cam-qos")
    assert est["observations"] == 60
    assert "slow" not in est["pool"]
    assert est["expected_ms"] < SLOW_DELAY_MS
    _, unknown, _ = _call(f"{pair}/v1/qos/never-seen")
    assert (unknown["observations"], unknown["expected_ms"]) == (0, None)
    text = _metrics(pair)
    for series in ('aiotwin_router_requests_total{client="cam-qos",code="200"} 60.0',
                   'aiotwin_router_instance_attempts_total{instance="slow",outcome="ok"}',
                   'aiotwin_router_instance_misses_total{instance="slow"}',
                   'aiotwin_router_qos_satisfaction{client="cam-qos"}',
                   'aiotwin_router_qos_pool_size{client="cam-qos"}',
                   'aiotwin_router_request_latency_seconds_bucket{client="cam-qos",le="0.08"}'):
        assert series in text, series


@needs_engine
def test_a_killed_instance_is_ejected_traffic_continues_and_sigterm_exits_0(procs, crop, tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text("[router.outlier]\nconsecutive-failures = 3\n", encoding="utf-8")
    a, url_a = _instance(procs, "inst-a")
    b, url_b = _instance(procs, "inst-b")
    router, url = _router(procs, "--config", str(config), "--no-mdns", "--instance", f"a={url_a}",
                          "--instance", f"b={url_b}")
    before = Counter(_infer(url, crop, "cam-kill")[1]["instance"] for _ in range(20))
    assert set(before) == {"a", "b"}
    b.proc.kill()
    b.wait()
    after = [_infer(url, crop, "cam-kill") for _ in range(40)]
    assert sum(status == 200 for status, _, _ in after) >= 30
    assert all(answer["instance"] == "a" for status, answer, _ in after if status == 200)
    assert all(status in {200, 502} for status, _, _ in after)
    _, listing, _ = _call(f"{url}/v1/instances")
    assert {i["id"]: i["state"] for i in listing["instances"]} == {"a": "healthy", "b": "ejected"}
    text = _metrics(url)
    assert 'aiotwin_router_instance_attempts_total{instance="b",outcome="error"}' in text
    assert 'aiotwin_router_instance_misses_total{instance="b"}' in text
    router.wait_for(r"instance b ejected")
    router.proc.send_signal(signal.SIGTERM)
    assert router.wait() == 0
    assert any("routed in total: 60 requests" in line for line in router.lines)
    assert any("stopped" in line for line in router.lines)
    a.proc.send_signal(signal.SIGTERM)
    assert a.wait() == 0


@needs_engine
def test_instances_are_discovered_by_mdns_and_removed_when_they_go(procs, crop):
    _, url = _router(procs, "--mdns", "--mdns-interface", "127.0.0.1", "--timeout-ms", "2000")
    inst = procs("serve", "--bundle", str(EDGE), "--variant", "onnx-fp32", "--host", "127.0.0.1", "--port", "0",
                 "--mdns", "--mdns-interface", "127.0.0.1", "--node-id", "mdns-node")
    inst.wait_for(r"\bready\b")
    status = 503
    for _ in range(200):
        status, answer, _ = _infer(url, crop, "cam-mdns")
        if status == 200:
            break
        _PAUSE.wait(0.1)
    assert status == 200
    assert answer["instance"] == "mdns-node"
    _, listing, _ = _call(f"{url}/v1/instances")
    assert [(i["id"], i["source"]) for i in listing["instances"]] == [("mdns-node", "mdns")]
    inst.proc.send_signal(signal.SIGTERM)  # goodbye packets: the router drops it now
    assert inst.wait() == 0
    for _ in range(100):
        _, listing, _ = _call(f"{url}/v1/instances")
        if not listing["instances"]:
            break
        _PAUSE.wait(0.1)
    assert listing["instances"] == []
    assert _infer(url, crop, "cam-mdns")[0] == 503


def test_no_instance_answers_503_and_sigterm_exits_0(procs):
    router, url = _router(procs, "--no-mdns")
    status, answer, _ = _call(f"{url}/v1/infer/vehicle", b"x", {"X-Client-Id": "cam-1", "Content-Type": "image/png"})
    assert status == 503
    assert "no inference instance" in answer["error"]
    status, health, _ = _call(f"{url}/healthz")
    assert (status, health) == (200, {"status": "ok", "policy": "qedgeproxy", "instances": 0, "healthy": 0})
    router.proc.send_signal(signal.SIGTERM)
    assert router.wait() == 0


def test_port_in_use_exits_with_the_gateway_code():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(app, ["start", "--no-mdns", "--port", str(taken.getsockname()[1])])
    assert result.exit_code == ExitCode.GATEWAY_PORT_IN_USE, result.output
    assert "--port 0" in result.output


@pytest.mark.parametrize(("args", "code"), [
    (["--instance", "ftp://x:1"], ExitCode.USAGE),
    (["--instance", "http://x:1", "--instance", "http://x:1/"], ExitCode.USAGE),
    (["--policy", "fastest"], ExitCode.USAGE),
])
def test_setup_errors_map_to_exit_codes(args, code):
    result = CliRunner().invoke(app, ["start", "--no-mdns", "--port", "0", *args])
    assert result.exit_code == code, result.output


def test_a_bad_config_file_exits_with_file_line_and_key(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("[router.http]\nport = 70000\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["start", "--no-mdns", "--config", str(path)])
    assert result.exit_code == ExitCode.CONFIG_INVALID, result.output
    assert f"{path}:1 router/http: port must be in [0, 65535]" in result.output


def test_start_help_imports_no_heavy_backend_nor_zeroconf_in_a_fresh_interpreter():
    import subprocess
    import sys

    heavy = ("torch", "onnxruntime", "cv2", "flwr", "ai_edge_litert", "tflite_runtime", "zeroconf")
    probe = ("import sys\nsys.argv = ['aiotwin-gateway', 'start', '--help']\nfrom gateway.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             f"print('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY:"))
    assert line == "HEAVY:"
    assert "X-Deadline-Ms" in out.stdout
