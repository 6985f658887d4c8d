"""Fixtures for the CoAP uplink: a real aiocoap server and client on 127.0.0.1, always stopped.

- :func:`serving` runs an :class:`UplinkServer` in the test's own loop (free port, tmp store);
- :class:`LoopThread` runs one in a background loop for hypothesis tests (many examples, one server);
- :class:`GatewayProcess` runs ``python -m gateway.uplink`` as a subprocess (SIGTERM/SIGKILL tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiocoap
import pytest

from aiotwin.wire import CountEvent, HealthEvent
from gateway.uplink import UplinkServer

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0
TS = "2026-01-01T00:00:00.000Z"


def count_event(i: int = 0, **kw: Any) -> CountEvent:
    base: dict[str, Any] = {"camera_id": "cam-1", "line_id": "l0", "direction": "in", "cls": "car",
                            "confidence": 0.9, "track_id": i, "model": "edge", "model_version": 1,
                            "variant": "onnx-int8", "id": f"ev-{i:06d}", "ts": TS}
    return CountEvent(**{**base, **kw})


def health_event(i: int = 0) -> HealthEvent:
    return HealthEvent(camera_id="cam-1", condition="frozen", active=True, id=f"hv-{i:06d}", ts=TS)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(store: Path, **kw: Any) -> AsyncIterator[tuple[UplinkServer, aiocoap.Context]]:
    """A started server on a free loopback port and a client context; both closed however it ends."""
    server = UplinkServer(store, host=LOOPBACK, port=0, **kw)
    client = None
    try:
        await server.start()
        client = await aiocoap.Context.create_client_context(transports=["udp6"])
        yield server, client
    finally:
        if client is not None:
            await client.shutdown()
        await server.close()


async def request(client: aiocoap.Context, code: aiocoap.numbers.codes.Code, url: str, payload: bytes = b"",
                  **opts: Any) -> aiocoap.Message:
    msg = aiocoap.Message(code=code, uri=url, payload=payload, **opts)
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        return await client.request(msg).response


async def post(client: aiocoap.Context, server_url: str, payload: bytes, **opts: Any) -> aiocoap.Message:
    opts.setdefault("content_format", aiocoap.numbers.ContentFormat.JSON)
    return await request(client, aiocoap.POST, f"{server_url}/events", payload, **opts)


class LoopThread:
    """An event loop in a thread running a server and a client; :meth:`run` submits coroutines."""

    def __init__(self, store: Path, **kw: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-coap-loop", daemon=True)
        self.thread.start()
        self.server = UplinkServer(store, host=LOOPBACK, port=0, **kw)
        self.client: aiocoap.Context | None = None
        self.run(self._start())

    async def _start(self) -> None:
        await self.server.start()
        self.client = await aiocoap.Context.create_client_context(transports=["udp6"])

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _stop(self) -> None:
        if self.client is not None:
            await self.client.shutdown()
        await self.server.close()

    def close(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(STOP_TIMEOUT_S)
            self.loop.close()


class GatewayProcess:
    """``python -m gateway.uplink`` on a fixed port; stderr collected by a reader thread."""

    def __init__(self, store: Path, port: int, directives: Path | None = None) -> None:
        args = [sys.executable, "-m", "gateway.uplink", "--bind", f"{LOOPBACK}:{port}", "--store", str(store)]
        if directives is not None:
            args += ["--directives", str(directives)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="test-gw-stderr", daemon=True)
        self._reader.start()
        self.port = port

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def url(self) -> str:
        return f"coap://{LOOPBACK}:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if any("aiotwin-uplink ready" in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            threading.Event().wait(0.05)
        raise AssertionError("gateway did not become ready:\n" + "\n".join(self.lines))

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(STOP_TIMEOUT_S)
        self._reader.join(STOP_TIMEOUT_S)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return rc


@pytest.fixture
def gateways():
    """Start gateway processes with ``start(store, port)``; every one is killed at the end."""
    started: list[GatewayProcess] = []

    def start(store: Path, port: int, directives: Path | None = None) -> GatewayProcess:
        gw = GatewayProcess(store, port, directives)
        started.append(gw)
        gw.wait_ready()
        return gw

    try:
        yield start
    finally:
        for gw in started:
            gw.kill()


def coap_client_binary() -> str | None:
    """libcoap's ``coap-client`` (Debian libcoap3-bin ships it as coap-client-{notls,gnutls,openssl})."""
    for name in ("coap-client", "coap-client-notls", "coap-client-gnutls", "coap-client-openssl"):
        if found := shutil.which(name):
            return found
    return None

