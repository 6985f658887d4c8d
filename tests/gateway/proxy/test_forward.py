"""The hop against scripted instances on 127.0.0.1: observations, retries within the budget, deadlines,
pass-through of the instance's 4xx/5xx, and forwarded headers."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Collection, Iterable

import aiohttp
import pytest

from gateway import NoInstancesError
from gateway.proxy import Forwarder, InstanceRegistry, Request
from gateway.router import (
    ClientEstimate,
    Decision,
    InstanceInfo,
    PolicySnapshot,
    RetryPolicy,
    RouterConfig,
    make_policy,
)
from gateway.router.config import RetryConfig
from gateway.router.http_config import StaticInstance
from tests.gateway.proxy.conftest import FakeInstance, running

GENEROUS = RetryConfig(budget_ratio=1.0)  # every request earns a retry


class Recording:
    """A routing policy that delegates and records every choose/observe (the hop's contract)."""

    def __init__(self, inner):
        self.inner = inner
        self.chosen: list[str] = []
        self.observed: list[tuple[str, float | None]] = []

    @property
    def name(self) -> str:
        return self.inner.name

    def set_instances(self, instances: Iterable[InstanceInfo | str], now: float) -> None:
        self.inner.set_instances(instances, now)

    def choose(self, client: str, now: float, avoid: Collection[str] = ()) -> Decision:
        decision = self.inner.choose(client, now, avoid)
        self.chosen.append(decision.instance)
        return decision

    def observe(self, client: str, instance: str, latency_ms: float | None, now: float) -> None:
        self.observed.append((instance, latency_ms))
        self.inner.observe(client, instance, latency_ms, now)

    def estimate(self, client: str, now: float) -> ClientEstimate:
        return self.inner.estimate(client, now)

    def snapshot(self) -> PolicySnapshot:
        return self.inner.snapshot()


async def _route(instances: tuple[FakeInstance, ...], requests: list[Request], *, retry: RetryConfig = GENEROUS,
                 timeout_s: float = 1.0, policy: str = "round-robin") -> tuple[list, Recording]:
    config = RouterConfig(retry=retry)
    rec = Recording(make_policy(config, random.Random(1), name=policy))
    registry = InstanceRegistry([StaticInstance(i.url, id=i.name) for i in instances])
    rec.set_instances(registry.infos(), time.monotonic())
    async with aiohttp.ClientSession() as session:
        fwd = Forwarder(rec, RetryPolicy(retry, random.Random(2)), registry, session, timeout_s=timeout_s,
                        clock=time.monotonic)
        results = [await fwd.async_route(r) for r in requests]
    return results, rec


def _req(client: str = "cam-1", deadline_ms: float | None = None, **headers: str) -> Request:
    return Request(client, "vehicle", b"\x89PNG...", {"Content-Type": "image/png", **headers}, deadline_ms)


def test_a_reply_passes_through_with_the_instance_and_its_latency_is_observed():
    async def main():
        async with running(FakeInstance("a")) as insts:
            return await _route(insts, [_req()])

    (routed,), rec = asyncio.run(main())
    assert routed.status == 200
    assert routed.body["instance"] == "a" == routed.instance
    assert routed.body["labels"] == ["car", "bus", "truck"]
    assert len(rec.observed) == len(rec.chosen) == 1
    instance, latency = rec.observed[0]
    assert instance == "a"
    assert latency is not None
    assert 0 < latency < 1000


def test_headers_and_body_reach_the_instance_and_the_model_path_is_kept():
    async def main():
        async with running(FakeInstance("a")) as insts:
            await _route(insts, [_req(**{"X-Tensor-Shape": "64,64,3"}),
                                 Request("cam-1", "vehicle-edge", b"raw", {}, None)])
            return insts[0].seen

    first, second = asyncio.run(main())
    assert first["body"] == b"\x89PNG..."
    assert (first["headers"]["Content-Type"], first["headers"]["X-Tensor-Shape"]) == ("image/png", "64,64,3")
    assert second["model"] == "vehicle-edge"
    assert "Content-Type" not in second["headers"]  # none given: none invented (the instance answers 415)


@pytest.mark.parametrize("mode", ["400", "404"])
def test_an_instance_4xx_goes_back_to_the_client_and_is_not_a_failure(mode):
    async def main():
        async with running(FakeInstance("a", mode=mode), FakeInstance("b")) as insts:
            return await _route(insts, [_req()])

    (routed,), rec = asyncio.run(main())
    assert routed.status == int(mode)
    assert routed.body == {"error": f"scripted {mode}", "instance": "a"}
    assert len(routed.attempts) == 1  # never retried
    assert rec.observed[0][1] is not None  # a real answer: observed with its latency


def test_a_5xx_is_a_failure_retried_on_another_instance():
    async def main():
        async with running(FakeInstance("a", mode="500"), FakeInstance("b")) as insts:
            return await _route(insts, [_req()])

    (routed,), rec = asyncio.run(main())
    assert routed.status == 200
    assert routed.instance == "b"
    assert [a.kind for a in routed.attempts] == ["failed", "ok"]
    assert rec.observed[0] == ("a", None)
    assert rec.chosen == ["a", "b"]


def test_without_budget_the_instances_5xx_passes_through():
    async def main():
        async with running(FakeInstance("a", mode="503"), FakeInstance("b")) as insts:
            return await _route(insts, [_req()], retry=RetryConfig())  # 0.2 tokens: no retry yet

    (routed,), rec = asyncio.run(main())
    assert routed.status == 503
    assert routed.body == {"error": "scripted 503", "instance": "a"}
    assert rec.observed == [("a", None)]


def test_retries_stay_within_the_budget():
    n = 50

    async def main():
        async with running(FakeInstance("a", mode="500"), FakeInstance("b")) as insts:
            return await _route(insts, [_req() for _ in range(n)], retry=RetryConfig(budget_ratio=0.2))

    results, rec = asyncio.run(main())
    retries = sum(len(r.attempts) - 1 for r in results)
    assert 0 < retries <= 0.2 * n
    assert len(rec.observed) == len(rec.chosen) == n + retries


@pytest.mark.parametrize("mode", ["text", "list"])
def test_a_2xx_without_a_json_object_is_a_failure(mode):
    async def main():
        async with running(FakeInstance("a", mode=mode)) as insts:
            return await _route(insts, [_req()])

    (routed,), rec = asyncio.run(main())
    assert routed.status == 502
    assert "not a JSON object" in routed.body["error"]
    assert routed.body["instance"] == "a"
    assert rec.observed == [("a", None)]


def test_a_refused_connection_is_a_502_and_a_failure():
    async def main():
        async with running(FakeInstance("a")) as insts:
            await insts[0].stop()
            return await _route(insts, [_req()])

    (routed,), rec = asyncio.run(main())
    assert routed.status == 502
    assert "instance a failed" in routed.body["error"]
    assert rec.observed == [("a", None)]


def test_the_clients_deadline_cuts_the_attempt_and_counts_as_a_miss_not_a_failure():
    async def main():
        async with running(FakeInstance("a", mode="hang"), FakeInstance("b", mode="hang")) as insts:
            return await _route(insts, [_req(deadline_ms=60)], timeout_s=5.0)

    (routed,), rec = asyncio.run(main())
    assert routed.status == 504
    assert "X-Deadline-Ms" in routed.body["error"]
    assert len(routed.attempts) == 1  # no time left for a retry
    assert rec.observed == [("a", math.inf)]
    assert 50 <= routed.elapsed_ms < 1000


def test_the_upstream_timeout_is_a_failure_and_retried_when_the_deadline_allows():
    async def main():
        async with running(FakeInstance("a", mode="hang"), FakeInstance("b")) as insts:
            return await _route(insts, [_req(deadline_ms=2000)], timeout_s=0.05)

    (routed,), rec = asyncio.run(main())
    assert routed.status == 200
    assert [(a.instance, a.kind) for a in routed.attempts] == [("a", "timeout"), ("b", "ok")]
    assert rec.observed[0] == ("a", None)


def test_no_instance_raises_for_the_503():
    async def main():
        return await _route((), [_req()])

    with pytest.raises(NoInstancesError):
        asyncio.run(main())
