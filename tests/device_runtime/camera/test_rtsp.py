"""The RTSP path against a real GStreamer RTSP server on loopback (tests/rtsp_server.py, system python):
frames arrive; killing the server makes the capture thread reconnect; a new server on the same port
brings frames back."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiotwin.retry import Backoff
from device_runtime.camera import CaptureThread, open_source

pytestmark = pytest.mark.rtsp

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER = Path(__file__).resolve().parents[2] / "rtsp_server.py"
READY_TIMEOUT_S = 15.0
FRAME_TIMEOUT_S = 15.0
_CHECK = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"


def _rtsp_server_missing() -> str | None:
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ("needs the GStreamer RTSP server for /usr/bin/python3 "
                "(run scripts/apt_test_deps.sh as root: python3-gi, gir1.2-gst-rtsp-server-1.0, …)")
    return None


class RtspServer:
    """tests/rtsp_server.py in a child process; always killed and reaped by :meth:`stop`."""

    def __init__(self, port: int = 0) -> None:
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(SERVER), "--port", str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = self._wait_ready()

    def _wait_ready(self) -> int:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT_S)
        if not line or not line[0].startswith("READY port="):
            self.stop()
            raise RuntimeError(f"RTSP server did not start: {line} {self.proc.stderr.read()}")
        return int(line[0].split("=", 1)[1])

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe:
                pipe.close()


@pytest.fixture
def servers() -> Iterator[list[RtspServer]]:
    if reason := _rtsp_server_missing():
        pytest.skip(reason)
    pytest.importorskip("cv2")
    started: list[RtspServer] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


class States:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, state: str, detail: str) -> None:
        with self._cond:
            self.seen.append((state, detail))
            self._cond.notify_all()

    def wait_for(self, state: str, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: [s for s, _ in self.seen].count(state) >= count, timeout)


def test_rtsp_source_reads_frames(servers):
    servers.append(RtspServer())
    t0 = time.monotonic()
    source = open_source(servers[0].url)
    try:
        frame = source.read()
        first_frame_s = time.monotonic() - t0
        assert source.is_live
        assert frame is not None and frame.shape == (240, 320, 3)
    finally:
        source.close()
    print(f"RTSP first frame after {first_frame_s:.2f} s")


def test_rtsp_reconnects_after_server_restart_on_same_port(servers):
    servers.append(RtspServer())
    port = servers[0].port
    states = States()
    backoff = Backoff(base_s=0.2, cap_s=1.0, rng=random.Random(0))
    with CaptureThread(lambda: open_source(servers[-1].url), name="rtsp", backoff=backoff,
                       on_state=states) as cap:
        assert cap.get(FRAME_TIMEOUT_S) is not None
        assert states.wait_for("streaming", 1, FRAME_TIMEOUT_S)

        servers[0].stop()
        assert states.wait_for("reconnecting", 1, FRAME_TIMEOUT_S), states.seen
        assert cap.stats.state == "reconnecting"
        while cap.get(0.05) is not None:  # drain what was buffered before the kill
            pass

        servers.append(RtspServer(port))
        assert servers[-1].port == port
        assert states.wait_for("streaming", 2, FRAME_TIMEOUT_S + 5), states.seen
        assert cap.get(FRAME_TIMEOUT_S) is not None
        stats = cap.stats
    assert stats.state == "streaming"
    assert stats.reconnects >= 1
    assert [s for s, _ in states.seen][:4] == ["connecting", "streaming", "reconnecting", "streaming"]


def test_rtsp_frozen_server_times_out_and_recovers(servers, monkeypatch):
    """A frozen server (SIGSTOP: socket open, no data) must not block reads for FFmpeg's default 30 s."""
    import signal

    from device_runtime.camera import opencv as cv_binding

    monkeypatch.setattr(cv_binding, "OPEN_TIMEOUT_MS", 1500)
    monkeypatch.setattr(cv_binding, "READ_TIMEOUT_MS", 1500)
    servers.append(RtspServer())
    states = States()
    backoff = Backoff(base_s=0.2, cap_s=1.0, rng=random.Random(0))
    with CaptureThread(lambda: open_source(servers[0].url), name="frozen", backoff=backoff,
                       on_state=states) as cap:
        assert cap.get(FRAME_TIMEOUT_S) is not None
        servers[0].proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            assert states.wait_for("reconnecting", 1, 10.0), states.seen
            assert time.monotonic() - t0 < 10.0
        finally:
            servers[0].proc.send_signal(signal.SIGCONT)
        assert states.wait_for("streaming", 2, FRAME_TIMEOUT_S + 5), states.seen
