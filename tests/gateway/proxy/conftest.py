"""Scripted fake inference instances (real aiohttp servers on 127.0.0.1) for the router's in-process tests.

Each :class:`FakeInstance` answers ``POST /v1/infer/{model}`` as its ``mode`` says and records the
requests it got; ``running(...)`` starts and stops a group of them, pass or fail. The blocking-call
guard of the instance tests applies: every loop runs in debug mode and a callback that holds it
longer than :data:`SLOW_CALLBACK_S` fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from gateway._web import http_url

SLOW_CALLBACK_S = 0.5
ANSWER = {"labels": ["car", "bus", "truck"], "scores": [0.7, 0.2, 0.1], "model": "vehicle-edge", "version": 1}


@dataclass
class FakeInstance:
    """``mode``: ok | slow | hang | 400 | 404 | 500 | 503 | text | list; ``delay_s`` for slow."""

    name: str
    mode: str = "ok"
    delay_s: float = 0.0
    seen: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return http_url("127.0.0.1", self.port)

    async def _infer(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append({"model": request.match_info["model"], "body": body, "headers": dict(request.headers)})
        if self.mode in {"slow", "hang"}:
            await asyncio.sleep(self.delay_s if self.mode == "slow" else 3600)
        if self.mode in {"400", "404", "500", "503"}:
            return web.json_response({"error": f"scripted {self.mode}"}, status=int(self.mode))
        if self.mode == "text":
            return web.Response(text="not json")
        if self.mode == "list":
            return web.json_response([1, 2])
        return web.json_response({**ANSWER, "node_id": self.name})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/infer/{model}", self._infer)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening: later connections are refused (a killed instance)."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@contextlib.asynccontextmanager
async def running(*instances: FakeInstance) -> AsyncIterator[tuple[FakeInstance, ...]]:
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S
    try:
        for inst in instances:
            await inst.start()
        yield instances
    finally:
        for inst in instances:
            await inst.stop()


@pytest.fixture(autouse=True)
def assert_loop_never_blocked(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    slow = [r.getMessage() for r in caplog.get_records("call") if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, f"the event loop was blocked: {slow}"
