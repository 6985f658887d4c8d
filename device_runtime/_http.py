"""The node's local HTTP endpoint: ``GET /healthz`` (JSON) and ``GET /metrics`` (Prometheus text).

Host and port are injected; port 0 picks a free port (read back from the bound socket). A port that
is already taken raises :class:`device_runtime._exceptions.PortInUseError` with the address in it.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from device_runtime._exceptions import DeviceError, PortInUseError

HealthFn = Callable[[], tuple[bool, dict[str, Any]]]
SHUTDOWN_TIMEOUT_S = 2.0  # in-flight scrapes get this long to finish at shutdown
_HEALTH_KEY: web.AppKey[HealthFn] = web.AppKey("health")
_METRICS_KEY: web.AppKey[Callable[[], bytes]] = web.AppKey("metrics")


async def _healthz(request: web.Request) -> web.Response:
    ok, body = request.app[_HEALTH_KEY]()
    return web.Response(text=json.dumps(body, sort_keys=True), status=200 if ok else 503,
                        content_type="application/json")


async def _metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(request.app[_METRICS_KEY])  # collectors may read SQLite
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class HttpEndpoint:
    """aiohttp server for ``/healthz`` and ``/metrics``; ``health`` runs on the loop and must not block."""

    def __init__(self, host: str, port: int, health: HealthFn, metrics: Callable[[], bytes]) -> None:
        self.host = host
        self.port = port
        app = web.Application()
        app[_HEALTH_KEY] = health
        app[_METRICS_KEY] = metrics
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/metrics", _metrics)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def async_start(self) -> None:
        """Bind and serve; sets :attr:`port` to the bound port (useful with port 0)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"metrics/health port {self.host}:{self.port} is already in use: stop the other "
                    "process, set [metrics] port in the config, or pass --port 0 for a free port"
                ) from exc
            raise DeviceError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from exc
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])

    async def async_stop(self) -> None:
        await self._runner.cleanup()


__all__ = ["SHUTDOWN_TIMEOUT_S", "HealthFn", "HttpEndpoint"]
