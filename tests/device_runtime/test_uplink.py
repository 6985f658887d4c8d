"""The device uplink: outbox → gateway over real CoAP on 127.0.0.1, /cfg observe, byte budget, config.

The crash test runs the gateway as a process (``python -m gateway.uplink``), kills it with SIGKILL
mid-stream, restarts it on the same port and store, and checks that every event the device acked is
stored exactly once and nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from aiotwin import ConfigError
from aiotwin.wire import DeviceDirectives, HealthEvent
from device_runtime._budget import ByteBudget
from device_runtime._metrics import NodeMetrics
from device_runtime._validate import load_and_validate
from device_runtime.config import UplinkConfig
from device_runtime.outbox import Outbox
from device_runtime.uplink import Uplink, UplinkCounters, UplinkStats, parse_gateway_uri
from gateway.uplink import EventStore
from tests.gateway.uplink.conftest import GatewayProcess, count_event, free_udp_port, serving

WAIT_S = 30.0
FAST = {"retry_max_s": 0.3, "request_timeout_s": 3.0}  # production: 30 s cap, 20 s timeout


async def until(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


class RecordingOutbox(Outbox):
    """An outbox that remembers every id it released after a 2.04 (what the device 'acked as sent')."""

    acked_ids: list[str]

    def ack(self, ids: Sequence[str]) -> int:
        n = super().ack(ids)
        self.__dict__.setdefault("acked_ids", []).extend(ids)
        return n


def _uplink(outbox: Outbox, gateway: str | None, **kw) -> Uplink:
    cfg = UplinkConfig(gateway=gateway, **{**FAST, **kw.pop("config", {})})
    return Uplink(outbox, cfg, node_id="cam-node-1", **kw)


# --- byte budget (pure) --------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_refills_per_hour_and_events_may_run_it_into_debt():
    clock = FakeClock()
    budget = ByteBudget(3600, clock=clock)  # 1 byte per second, bucket of 3600
    assert budget.available() == 3600
    assert budget.try_spend(3000) and not budget.try_spend(1000) and budget.available() == 600
    budget.charge(3000)  # events always go: debt
    assert budget.available() == 0 and budget.wait_s(10) == pytest.approx(2410)
    clock.now += 2400
    assert budget.available() == 0
    clock.now += 100
    assert budget.available() == 100
    clock.now += 10 * 3600
    assert budget.available() == 3600  # capped at one hour's worth
    budget.charge(10**9)
    assert budget.wait_s(1) == pytest.approx(3601)  # debt floor: minus one bucket


@pytest.mark.parametrize(("rate", "ask", "ok", "wait"), [
    (0, 1, False, math.inf),
    (3600, 3601, False, math.inf),
    (3600, 0, True, 0.0),
    (7200, 7200, True, 0.0),
])
def test_budget_table(rate, ask, ok, wait):
    budget = ByteBudget(rate, clock=FakeClock())
    assert budget.wait_s(ask) == wait
    assert budget.try_spend(ask) is ok


def test_budget_rate_change_keeps_tokens_within_the_new_bucket():
    clock = FakeClock()
    budget = ByteBudget(7200, clock=clock)
    budget.set_rate(3600)
    assert budget.available() == 3600 and budget.bytes_per_h == 3600
    with pytest.raises(ValueError, match=">= 0"):
        budget.set_rate(-1)


# --- gateway URIs and the [uplink] config ---------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("coap://10.0.0.2", "coap://10.0.0.2:5683"),
    ("coap://gw.local:5700/", "coap://gw.local:5700"),
    ("coap://[fe80::1]:5684", "coap://[fe80::1]:5684"),
])
def test_gateway_uri_is_normalised(text, expected):
    assert parse_gateway_uri(text) == expected


@pytest.mark.parametrize("text", ["http://gw:5683", "coap://", "coap://gw:99999", "coap://gw/events",
                                  "coap://gw?x=1", "gw:5683"])
def test_a_bad_gateway_uri_says_why(text):
    with pytest.raises(ValueError, match=r"coap://|port"):
        parse_gateway_uri(text)


def _device_toml(tmp_path: Path, uplink: str) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(f'[[cameras]]\nid = "a"\nsource = "synthetic:downtown"\n\n[uplink]\n{uplink}\n')
    return path


def test_uplink_config_loads_and_is_off_unless_configured(tmp_path):
    cfg = load_and_validate(_device_toml(tmp_path, 'gateway = "coap://10.0.0.2"\nbatch-events = 10'))
    assert cfg.uplink.active and cfg.uplink.gateway == "coap://10.0.0.2" and cfg.uplink.batch_events == 10
    assert not UplinkConfig().active
    assert UplinkConfig(mdns=True).active and not UplinkConfig(gateway="coap://x", enabled=False).active


def test_uplink_config_errors_name_file_line_and_key(tmp_path):
    path = _device_toml(tmp_path, 'enabled = true\nbatch-events = 0\nbatch-bytes = 10\ngateway = "http://x"\n'
                                  'prefer-gateway = "a b"')
    with pytest.raises(ConfigError) as info:
        load_and_validate(path)
    text = str(info.value)
    for key, line in (("uplink/batch-events", 7), ("uplink/batch-bytes", 8), ("uplink/gateway", 9),
                      ("uplink/prefer-gateway", 10)):
        assert f"{path}:{line} {key}" in text, text
    with pytest.raises(ConfigError, match="uplink/enabled: the uplink needs"):
        load_and_validate(_device_toml(tmp_path, "enabled = true"))
    with pytest.raises(ConfigError, match="unknown key"):
        load_and_validate(_device_toml(tmp_path, "gatway = 'coap://x'"))


# --- real CoAP on loopback -----------------------------------------------------------------------

def test_events_flow_from_the_outbox_to_the_gateway_store_in_fifo_batches(tmp_path):
    events = [count_event(i) for i in range(150)]

    async def main():
        outbox = await asyncio.to_thread(Outbox.open, tmp_path / "outbox.sqlite3")
        async with serving(tmp_path / "gw.sqlite3") as (server, _):
            await asyncio.to_thread(outbox.put, events)
            uplink = _uplink(outbox, server.url, config={"batch_events": 32})
            await uplink.start()
            try:
                await until(lambda: outbox.stats().depth == 0)
                stats = await asyncio.to_thread(uplink.stats)
                ids = await asyncio.to_thread(server.store.ids)
                nodes = await asyncio.to_thread(
                    lambda: {r[0] for r in server.store._conn.execute("SELECT DISTINCT node FROM events")})
            finally:
                await uplink.close()
        outbox.close()
        return stats, ids, nodes

    stats, ids, nodes = asyncio.run(main())
    assert ids == [e.id for e in events]  # FIFO
    assert nodes == {"cam-node-1"}
    assert (stats.counters.sent, stats.counters.acked, stats.counters.failures) == (150, 150, 0)
    assert stats.pending == 0 and stats.connected is True and stats.counters.bytes_sent > 150 * 200


def test_a_resent_batch_is_acknowledged_and_stored_once(tmp_path):
    """The gateway committed a batch but its 2.04 was lost: the device sends it again."""
    events = [count_event(i) for i in range(10)]

    async def main():
        outbox = await asyncio.to_thread(Outbox.open, tmp_path / "outbox.sqlite3")
        async with serving(tmp_path / "gw.sqlite3") as (server, _):
            await asyncio.to_thread(server.store.put, events[:6])  # the first delivery, unacknowledged
            await asyncio.to_thread(outbox.put, events)
            uplink = _uplink(outbox, server.url)
            await uplink.start()
            try:
                await until(lambda: outbox.stats().depth == 0)
            finally:
                await uplink.close()
            rows, stats = await asyncio.to_thread(server.store.count), server.stats()
        outbox.close()
        return rows, stats

    rows, stats = asyncio.run(main())
    assert rows == 10 and stats.events_duplicate == 6 and stats.events_stored == 4


def test_events_wait_while_the_gateway_is_down_and_flow_when_it_comes_up(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="device_runtime.uplink")
    port = free_udp_port()
    events = [count_event(i) for i in range(20)]

    async def main():
        outbox = await asyncio.to_thread(Outbox.open, tmp_path / "outbox.sqlite3")
        await asyncio.to_thread(outbox.put, events)
        uplink = _uplink(outbox, f"coap://127.0.0.1:{port}")
        await uplink.start()
        try:
            await until(lambda: uplink.counters.failures >= 3)
            assert outbox.stats().depth == 20 and uplink.connected is False
            from gateway.uplink import UplinkServer

            server = UplinkServer(tmp_path / "gw.sqlite3", host="127.0.0.1", port=port)
            await server.start()
            try:
                await until(lambda: outbox.stats().depth == 0)
                return await asyncio.to_thread(server.store.count), uplink.connected
            finally:
                await server.close()
        finally:
            await uplink.close()
            outbox.close()

    rows, connected = asyncio.run(main())
    assert rows == 20 and connected is True
    messages = [r.getMessage() for r in caplog.records]
    assert any("does not answer; events stay in the outbox" in m for m in messages)
    assert any(m.endswith("answers") for m in messages)


def test_a_refused_event_is_isolated_dropped_and_counted(tmp_path, caplog):
    """A 4.13 for a batch: halves are retried; the event that alone is too large is removed."""
    big = HealthEvent(camera_id="cam-1", condition="occluded", active=True, detail="x" * 3000, id="big-1")
    events = [count_event(1), count_event(2), big, count_event(3)]

    async def main():
        outbox = await asyncio.to_thread(Outbox.open, tmp_path / "outbox.sqlite3")
        async with serving(tmp_path / "gw.sqlite3", max_batch_bytes=2048) as (server, _):
            await asyncio.to_thread(outbox.put, events)
            uplink = _uplink(outbox, server.url)
            await uplink.start()
            try:
                await until(lambda: outbox.stats().depth == 0)
            finally:
                await uplink.close()
            ids = await asyncio.to_thread(server.store.ids)
        outbox.close()
        return ids, uplink.counters

    ids, counters = asyncio.run(main())
    assert ids == ["ev-000001", "ev-000002", "ev-000003"]
    assert counters.rejected == 1 and counters.acked == 3
    assert any("refused event big-1" in r.getMessage() for r in caplog.records)


def test_cfg_is_observed_applied_to_the_budget_and_updates_arrive(tmp_path):
    seen: list[DeviceDirectives] = []

    async def main():
        outbox = await asyncio.to_thread(Outbox.open, tmp_path / "outbox.sqlite3")
        first = DeviceDirectives(gateway="gw-1", byte_budget_per_h=50_000)
        async with serving(tmp_path / "gw.sqlite3", directives=first) as (server, _):
            uplink = _uplink(outbox, server.url, config={"byte_budget_per_h": 40_000}, on_directives=seen.append)
            await uplink.start()
            try:
                await until(lambda: uplink.directives == first)
                budget_first = uplink.budget.bytes_per_h
                server.set_directives(replace(first, tau_ms=150.0, byte_budget_per_h=10_000))
                await until(lambda: uplink.directives is not None and uplink.directives.tau_ms == 150.0)
                return budget_first, uplink.budget.bytes_per_h, uplink.counters.directives_updates
            finally:
                await uplink.close()
                outbox.close()

    budget_first, budget_then, updates = asyncio.run(main())
    assert budget_first == 40_000  # the smaller of the local cap and the gateway's budget
    assert budget_then == 10_000
    assert updates == 2 and [d.tau_ms for d in seen] == [80.0, 150.0]


def test_the_gateway_is_found_by_mdns_on_loopback(tmp_path):
    from aiotwin.discovery import async_open_zeroconf
    from gateway.transports.mdns import GatewayAdvertiser

    async def main():
        outbox = await asyncio.to_thread(Outbox.open, tmp_path / "outbox.sqlite3")
        await asyncio.to_thread(outbox.put, [count_event(1)])
        zc = async_open_zeroconf(["127.0.0.1"])
        async with serving(tmp_path / "gw.sqlite3") as (server, _):
            advertiser = GatewayAdvertiser(zc, "gw-mdns", server.port, ["127.0.0.1"])
            uplink = _uplink(outbox, None, config={"mdns": True, "mdns_interfaces": ["127.0.0.1"]})
            try:
                await advertiser.async_start()
                await uplink.start()
                await until(lambda: outbox.stats().depth == 0)
                return uplink.gateway(), await asyncio.to_thread(server.store.count)
            finally:
                await uplink.close()
                await advertiser.async_stop()
                await zc.async_close()
                outbox.close()

    gateway, rows = asyncio.run(main())
    assert gateway is not None and gateway.endswith(":" + gateway.rsplit(":", 1)[1]) and rows == 1


def test_uplink_metrics_render():
    metrics = NodeMetrics()
    stats = UplinkStats(UplinkCounters(sent=5, acked=4, rejected=1, failures=2, bytes_sent=900,
                                       directives_updates=1), pending=3, gateway="coap://127.0.0.1:5683",
                        connected=True, budget_available=100, budget_per_h=3600)
    metrics.add_uplink_pull(lambda: stats)
    text = metrics.render().decode()
    for line in ("aiotwin_uplink_events_sent_total 5.0", "aiotwin_uplink_events_acked_total 4.0",
                 "aiotwin_uplink_failures_total 2.0", "aiotwin_uplink_events_pending 3.0",
                 "aiotwin_uplink_connected 1.0", "aiotwin_uplink_budget_bytes_per_hour 3600.0"):
        assert line in text, line


# --- the crash test: SIGKILL the gateway mid-stream ------------------------------------------------

def test_gateway_sigkill_mid_stream_loses_nothing_and_stores_nothing_twice(tmp_path):
    port, store = free_udp_port(), tmp_path / "gw.sqlite3"
    total, per_put = 400, 4
    events = [count_event(i) for i in range(total)]
    procs: list[GatewayProcess] = []

    def start_gateway() -> GatewayProcess:
        gw = GatewayProcess(store, port)
        procs.append(gw)
        gw.wait_ready()
        return gw

    async def produce(outbox: Outbox, uplink: Uplink) -> None:
        for at in range(0, total, per_put):
            await asyncio.to_thread(outbox.put, events[at:at + per_put])
            uplink.wake()
            await asyncio.sleep(0.01)

    async def main() -> tuple[set[str], list[str]]:
        first = await asyncio.to_thread(start_gateway)
        outbox = await asyncio.to_thread(RecordingOutbox.open, tmp_path / "outbox.sqlite3")
        outbox.acked_ids = []
        uplink = _uplink(outbox, f"coap://127.0.0.1:{port}", config={"batch_events": 8})
        await uplink.start()
        try:
            producer = asyncio.create_task(produce(outbox, uplink))
            await until(lambda: len(outbox.acked_ids) >= 40)
            await asyncio.to_thread(first.kill, signal.SIGKILL)
            assert not producer.done()  # mid-stream
            acked_before_restart = set(outbox.acked_ids)
            await until(lambda: uplink.counters.failures >= 2)
            await asyncio.to_thread(start_gateway)
            await producer
            await until(lambda: outbox.stats().depth == 0)
            assert uplink.counters.sent > total  # what was in flight at the kill went again
            return acked_before_restart, list(outbox.acked_ids)
        finally:
            await uplink.close()
            outbox.close()

    try:
        acked_before, acked = asyncio.run(main())
    finally:
        codes = [gw.kill(signal.SIGTERM) for gw in procs]
    assert codes[0] == -signal.SIGKILL and codes[1] == 0  # the restarted gateway stops cleanly on SIGTERM
    with EventStore.open(store, readonly=True) as gw_store:
        ids = gw_store.ids()
    assert len(ids) == len(set(ids)) == total  # nothing twice, nothing lost
    assert acked_before <= set(ids)  # acked before the crash: durable across SIGKILL
    assert set(acked) == {e.id for e in events}


# --- wired into `aiotwin-device start` ------------------------------------------------------------

def _runtime_missing() -> str | None:
    from aiotwin.bundle import MANIFEST, default_bundle_dir
    from aiotwin.engines import engine_available

    if not (default_bundle_dir("edge") / MANIFEST).is_file():
        return "no shipped edge bundle"
    return engine_available("onnx-fp32")


@pytest.mark.skipif(_runtime_missing() is not None, reason="the node needs the edge bundle and onnxruntime")
def test_the_daemon_runs_the_uplink_when_configured_and_reports_it(tmp_path):
    from device_runtime.config import CameraConfig, DeviceConfig, MetricsConfig
    from device_runtime.daemon import DeviceNode, NodeOptions
    from tests.device_runtime.test_daemon import http_get, metric_values

    async def main():
        async with serving(tmp_path / "gw.sqlite3") as (server, _):
            cfg = DeviceConfig(cameras=[CameraConfig(id="cam", source=str(tmp_path / "missing.avi"))],
                               data_dir=tmp_path / "data", metrics=MetricsConfig(port=0), variant="onnx-fp32",
                               node_id="cam-node-9", uplink=UplinkConfig(gateway=server.url, **FAST))
            node = DeviceNode(cfg, NodeOptions(live=False, env={}))
            try:
                await node.start()
                assert node.uplink is not None
                await asyncio.to_thread(node._put_events, [count_event(i) for i in range(5)])
                await until(lambda: server.store.count() == 5)
                await until(lambda: node.outbox is not None and node.outbox.stats().depth == 0)
                _, health = await asyncio.to_thread(http_get, f"{node.http.url}/healthz")
                _, text = await asyncio.to_thread(http_get, f"{node.http.url}/metrics")
            finally:
                await node.shutdown()
            return health, metric_values(text)

    health, values = asyncio.run(main())
    assert json.loads(health)["uplink"]["connected"] is True
    assert values["aiotwin_uplink_events_acked_total{}"] == 5.0
    assert values["aiotwin_uplink_events_pending{}"] == 0.0


def test_the_daemon_leaves_the_uplink_off_by_default():
    from device_runtime.config import DeviceConfig

    assert not DeviceConfig().uplink.active
