"""An in-process router (RouterServer on 127.0.0.1) over scripted instances: the HTTP surface, QoS
estimates, ejection of a dead instance, metrics, and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp

from gateway.proxy import RouterServer
from gateway.proxy._server import EJECTION_CHECK_S
from gateway.router import RouterConfig
from gateway.router.config import OutlierConfig
from gateway.router.http_config import HttpConfig, RouterMdnsConfig, StaticInstance
from tests.gateway.proxy.conftest import FakeInstance, running

HEADERS = {"Content-Type": "image/png", "X-Client-Id": "cam-1"}


def _config(*instances: FakeInstance, **overrides) -> RouterConfig:
    base = RouterConfig(http=HttpConfig(host="127.0.0.1", port=0), mdns=RouterMdnsConfig(enabled=False), seed=7,
                        instances=tuple(StaticInstance(i.url, id=i.name) for i in instances))
    return replace(base, **overrides)


@contextlib.asynccontextmanager
async def router(config: RouterConfig, **kwargs) -> AsyncIterator[tuple[RouterServer, aiohttp.ClientSession]]:
    server = RouterServer(config, **kwargs)
    try:
        await server.start()
        async with aiohttp.ClientSession(base_url=server.url) as session:
            yield server, session
    finally:
        await server.shutdown()


async def _post(session: aiohttp.ClientSession, headers: dict[str, str], body: bytes = b"png",
                model: str = "vehicle") -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
    async with session.post(f"/v1/infer/{model}", data=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


async def _get(session: aiohttp.ClientSession, path: str) -> tuple[int, dict]:
    async with session.get(path) as resp:
        return resp.status, await resp.json()


def test_headers_are_checked_before_anything_is_routed():
    async def main():
        async with running(FakeInstance("a")) as insts, router(_config(*insts)) as (_, s):
            out = [await _post(s, {"Content-Type": "image/png"}),
                   await _post(s, {**HEADERS, "X-Client-Id": "bad id"}),
                   await _post(s, {**HEADERS, "X-Deadline-Ms": "-5"}),
                   await _post(s, {**HEADERS, "X-Deadline-Ms": "soon"})]
            return out, insts[0].seen

    answers, seen = asyncio.run(main())
    assert [status for status, _, _ in answers] == [400] * 4
    assert "X-Client-Id" in answers[0][1]["error"]
    assert "X-Deadline-Ms" in answers[2][1]["error"]
    assert seen == []


def test_a_routed_answer_names_its_instance_and_qos_reports_the_estimate():
    async def main():
        async with running(FakeInstance("a"), FakeInstance("b")) as insts, router(_config(*insts)) as (_, s):
            answers = [await _post(s, {**HEADERS, "X-Deadline-Ms": "500"}) for _ in range(20)]
            return answers, await _get(s, "/v1/qos/cam-1"), await _get(s, "/v1/qos/nobody"), \
                await _get(s, "/v1/qos/bad%20id"), await _get(s, "/v1/instances"), await _get(s, "/healthz")

    answers, qos, unknown, bad, instances, health = asyncio.run(main())
    for status, body, headers in answers:
        assert status == 200
        assert body["instance"] == headers["X-Aiotwin-Instance"] == body["node_id"]
        assert headers["X-Aiotwin-Attempts"] == "1"
    assert {body["instance"] for _, body, _ in answers} == {"a", "b"}
    status, est = qos
    assert status == 200
    assert est["observations"] == 20
    assert est["p_within_tau"] > 0.95
    assert est["meets_rho"] is True
    assert 0 < est["expected_ms"] < 80
    assert est["tau_ms"] == 80.0
    assert est["rho"] == 0.95
    assert set(est["pool"]) == {"a", "b"}
    assert est["pool_size"] == 2
    assert est["satisfaction"] == 1.0
    assert unknown == (200, {**unknown[1], "observations": 0, "expected_ms": None, "p_within_tau": 0.0,
                             "meets_rho": False, "satisfaction": None})
    assert bad[0] == 400
    status, listing = instances
    assert [(i["id"], i["source"], i["state"]) for i in listing["instances"]] == [
        ("a", "static", "healthy"), ("b", "static", "healthy")]
    assert listing["instances"][0]["estimates"]["cam-1"]["samples"] >= 5
    assert health == (200, {"status": "ok", "policy": "qedgeproxy", "instances": 2, "healthy": 2})


def test_a_dead_instance_gets_misses_is_ejected_and_traffic_goes_on(caplog):
    caplog.set_level(logging.INFO, logger="gateway.proxy")
    config = _config(outlier=OutlierConfig(consecutive_failures=3))

    async def main():
        async with running(FakeInstance("a"), FakeInstance("b")) as insts, \
                router(replace(config, instances=_config(*insts).instances)) as (_, s):
            before = [await _post(s, HEADERS) for _ in range(20)]
            await insts[1].stop()
            after = [await _post(s, HEADERS) for _ in range(40)]
            await asyncio.sleep(2 * EJECTION_CHECK_S)  # the throttled ejection check logs by then
            async with s.get("/metrics") as resp:
                metrics = await resp.text()
            return before, after, await _get(s, "/v1/instances"), metrics

    before, after, (_, listing), metrics = asyncio.run(main())
    assert {b["instance"] for _, b, _ in before} == {"a", "b"}
    assert sum(status == 200 for status, _, _ in after) >= 35
    assert all(b["instance"] == "a" for status, b, _ in after if status == 200)
    assert {i["id"]: i["state"] for i in listing["instances"]} == {"a": "healthy", "b": "ejected"}
    assert 'aiotwin_router_instance_attempts_total{instance="b",outcome="error"}' in metrics
    assert 'aiotwin_router_instance_misses_total{instance="b"}' in metrics
    assert 'aiotwin_router_instances{state="ejected"} 1.0' in metrics
    assert 'aiotwin_router_instance_healthy{instance="b",source="static"} 0.0' in metrics
    assert any("instance b ejected" in r.getMessage() for r in caplog.records)


def test_metrics_carry_the_per_client_and_per_instance_series():
    async def main():
        async with running(FakeInstance("a", mode="slow", delay_s=0.1), FakeInstance("b")) as insts, \
                router(_config(*insts)) as (_, s):
            for _ in range(12):
                await _post(s, HEADERS)
            await _post(s, {**HEADERS, "X-Client-Id": "cam-2"})
            async with s.get("/metrics") as resp:
                return resp.headers["Content-Type"], await resp.text()

    content_type, text = asyncio.run(main())
    assert content_type.startswith("text/plain")
    for series in (
        'aiotwin_router_requests_total{client="cam-1",code="200"} 12.0',
        'aiotwin_router_requests_total{client="cam-2",code="200"} 1.0',
        'aiotwin_router_client_misses_total{client="cam-1"}',
        'aiotwin_router_request_latency_seconds_bucket{client="cam-1",le="0.08"}',
        'aiotwin_router_instance_attempts_total{instance="a",outcome="ok"}',
        'aiotwin_router_instance_latency_seconds_count{instance="b"}',
        'aiotwin_router_instance_misses_total{instance="a"}',
        'aiotwin_router_qos_satisfaction{client="cam-1"}',
        'aiotwin_router_qos_pool_size{client="cam-1"}',
        'aiotwin_router_exploration_epsilon{client="cam-1"}',
        'aiotwin_router_decisions_total{reason="explore"}',
        'aiotwin_router_instances{state="healthy"} 2.0',
        "aiotwin_router_retry_budget_tokens",
    ):
        assert series in text, series


def test_no_instance_is_a_503_and_errors_are_json():
    async def main():
        async with router(_config(http=HttpConfig(host="127.0.0.1", port=0, max_body_bytes=1024))) as (_, s):
            return (await _post(s, HEADERS), await _post(s, HEADERS, body=b"x" * 4096), await _get(s, "/nope"),
                    await _get(s, "/v1/instances"))

    (status, body, _), too_big, unknown, listing = asyncio.run(main())
    assert status == 503
    assert "no inference instance" in body["error"]
    assert too_big[0] == 413
    assert "error" in too_big[1]
    assert unknown[0] == 404
    assert listing == (200, {"policy": "qedgeproxy", "instances": []})


def test_baselines_route_behind_the_same_hop():
    async def main():
        async with running(FakeInstance("a"), FakeInstance("b")) as insts, \
                router(_config(*insts), policy="round-robin") as (_, s):
            answers = [await _post(s, HEADERS) for _ in range(6)]
            return answers, await _get(s, "/v1/qos/cam-1")

    answers, (_, est) = asyncio.run(main())
    assert [b["instance"] for _, b, _ in answers] == ["a", "b"] * 3
    assert est["policy"] == "round-robin"
    assert est["observations"] == 6


def test_requests_are_logged_at_debug_and_summarised_at_info(caplog, monkeypatch):
    import gateway.proxy._server as server_mod

    monkeypatch.setattr(server_mod, "SUMMARY_INTERVAL_S", 0.05)
    caplog.set_level(logging.DEBUG, logger="gateway.proxy")

    async def main():
        async with running(FakeInstance("a")) as insts, router(_config(*insts)) as (_, s):
            for _ in range(3):
                await _post(s, HEADERS)
            await asyncio.sleep(0.2)

    asyncio.run(main())
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gateway.proxy"]
    per_request = [m for level, m in messages if level == logging.DEBUG and m.startswith("client cam-1 model vehicle")]
    assert len(per_request) == 3
    assert "→ a HTTP 200" in per_request[0]
    assert "[a:only:ok:" in per_request[0]
    infos = [m for level, m in messages if level == logging.INFO]
    assert any(m.startswith("last 0.05 s: 3 requests, 0 misses (0.0 %), 0 retries, 0 failed attempts; 1 healthy")
               for m in infos), infos
    assert infos[-1] == "routed in total: 3 requests, 0 misses (0.0 %), 0 retries, 0 failed attempts"
