"""``python -m gateway.uplink`` as a real process: ready line, SIGTERM → exit 0, bad arguments."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aiocoap
import pytest

from aiotwin.exitcodes import ExitCode
from aiotwin.wire import DeviceDirectives, decode_directives, encode_directives, encode_event
from gateway.uplink import EventStore
from gateway.uplink.__main__ import parse_bind
from tests.gateway.uplink.conftest import count_event, free_udp_port, post, request


def test_standalone_serves_and_stops_cleanly_on_sigterm(tmp_path, gateways):
    store, cfg = tmp_path / "gw.sqlite3", tmp_path / "cfg.json"
    cfg.write_bytes(encode_directives(DeviceDirectives(gateway="gw-7", rho=0.8)))
    gw = gateways(store, free_udp_port(), cfg)

    async def main():
        client = await aiocoap.Context.create_client_context(transports=["udp6"])
        try:
            stored = await post(client, gw.url, encode_event(count_event(1)))
            directives = await request(client, aiocoap.GET, f"{gw.url}/cfg")
            return stored, directives
        finally:
            await client.shutdown()

    stored, directives = asyncio.run(main())
    assert stored.code == aiocoap.CHANGED
    assert decode_directives(directives.payload) == DeviceDirectives(gateway="gw-7", rho=0.8)
    assert gw.kill(signal.SIGTERM) == 0
    assert any("aiotwin-uplink stopped" in line for line in gw.lines)
    with EventStore.open(store, readonly=True) as s:
        assert s.ids() == ["ev-000001"]


def test_a_store_in_use_exits_non_zero_with_one_line(tmp_path, gateways):
    store = tmp_path / "gw.sqlite3"
    gateways(store, free_udp_port())
    out = subprocess.run([sys.executable, "-m", "gateway.uplink", "--bind", f"127.0.0.1:{free_udp_port()}",
                          "--store", str(store)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == ExitCode.FAILURE
    assert "in use by another process" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5700", ("127.0.0.1", 5700)),
    ("[::1]:5700", ("::1", 5700)),
    (":0", ("::", 0)),
    ("10.0.0.1", ("10.0.0.1", 5683)),
])
def test_parse_bind(text, expected):
    assert parse_bind(text) == expected
