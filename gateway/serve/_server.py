"""One inference instance: worker thread + micro-batcher + HTTP site + mDNS advertisement.

Lifecycle (STYLE rule 12, driven by :func:`aiotwin.lifecycle.run_daemon`):

``start()``
    loads the bundle and opens the engine on the worker thread, starts the batcher, binds the HTTP
    site (port 0: a free port), logs ``serving on http://HOST:PORT``, then advertises the instance by
    mDNS (unless disabled). ``run_daemon`` logs ``ready`` when it returns.
``shutdown()``
    withdraws the advertisement first (routers stop sending), lets in-flight requests finish
    (:data:`~gateway.serve._http.SHUTDOWN_TIMEOUT_S`), fails whatever still waits with 503, then
    closes the engine and joins the worker thread. Safe after a failed or partial ``start()``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from aiotwin.exitcodes import ExitCode
from aiotwin.lifecycle import TaskSet, run_daemon
from gateway._exceptions import ServeError, ServePortInUse, UnknownModel
from gateway._web import async_listen, http_url
from gateway.config import ServeConfig
from gateway.serve._batcher import MicroBatcher
from gateway.serve._codec import parse_body
from gateway.serve._http import SHUTDOWN_TIMEOUT_S, build_app
from gateway.serve._load import LoadStats
from gateway.serve._metrics import ServeMetrics
from gateway.serve._model import ServedModel, default_node_id
from gateway.serve._worker import InferenceWorker

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncZeroconf

    from gateway.transports.mdns import Advertiser

_LOG = logging.getLogger("gateway.serve")

NAME = "aiotwin-gateway"


class InferenceServer:
    """See the module docstring. Every method except :meth:`render_metrics` runs on the event loop."""

    def __init__(self, config: ServeConfig, *, metrics: ServeMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._tasks = TaskSet()
        self._worker = InferenceWorker(config.bundle, config.variant, threads=config.threads, top=config.top_k,
                                       delay=config.service_delay, aliases=config.aliases)
        self._batcher = MicroBatcher(self._worker.async_run, max_batch=config.max_batch,
                                     max_wait_s=config.max_wait_ms / 1000.0, max_queue=config.max_queue,
                                     on_batch=self._async_on_batch)
        self._stats = LoadStats()
        self.metrics = metrics or ServeMetrics()
        self.metrics.bind_load(lambda: self._batcher.queued, lambda: self._batcher.in_flight)
        self._runner: web.AppRunner | None = None
        self._zeroconf: AsyncZeroconf | None = None
        self._advertiser: Advertiser | None = None
        self._model: ServedModel | None = None
        self._serving = False
        self.port = config.port
        self.node_id = config.node_id or ""

    @property
    def model(self) -> ServedModel:
        if self._model is None:
            raise ServeError("the instance is not started")
        return self._model

    @property
    def url(self) -> str:
        return http_url(self.config.host, self.port)

    async def start(self) -> None:
        self._model = await self._worker.async_start()
        self._batcher.async_start(self._tasks)
        await self._async_listen()
        if self.config.node_id is None:
            self.node_id = await asyncio.to_thread(default_node_id, self.port)
        m = self.model
        self.metrics.set_model({"name": m.name, "version": str(m.version), "variant": m.variant,
                                "provider": m.provider, "node_id": self.node_id})
        _LOG.info("model %s v%d variant %s on %s, node id %s, batches of ≤ %d within %g ms", m.name, m.version,
                  m.variant, m.provider, self.node_id, self.config.max_batch, self.config.max_wait_ms)
        _LOG.info("serving on %s", self.url)
        if self.config.mdns.enabled:
            await self._async_advertise()
        self._serving = True

    async def _async_listen(self) -> None:
        app = build_app(self, max_body_bytes=self.config.max_body_bytes)
        self._runner, self.port = await async_listen(app, self.config.host, self.config.port,
                                                     shutdown_timeout_s=SHUTDOWN_TIMEOUT_S, in_use=ServePortInUse,
                                                     failed=ServeError)

    async def _async_advertise(self) -> None:
        from gateway.transports import mdns

        interfaces = self.config.mdns.interfaces
        self._zeroconf = mdns.async_open_zeroconf(interfaces)
        addresses = await asyncio.to_thread(mdns.advertised_addresses, self.config.host, interfaces)
        m = self.model
        txt = mdns.InferTxt(self.node_id, m.name, m.version, m.variant)
        self._advertiser = mdns.Advertiser(self._zeroconf, txt, self.port, addresses)
        await self._advertiser.async_start()

    async def shutdown(self) -> None:
        self._serving = False
        from aiotwin.discovery import async_stop_all  # zeroconf only when the server ran

        await async_stop_all(self._advertiser, self._zeroconf)
        self._advertiser, self._zeroconf = None, None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._batcher.async_close()
        await self._tasks.close()
        await self._worker.async_close()

    # --- ServeCore: what the HTTP handlers call ------------------------------------------------

    def async_check_model(self, name: str) -> None:
        m = self.model
        if not m.answers_to(name):
            aliases = f" (aliases: {', '.join(m.aliases)})" if m.aliases else ""
            raise UnknownModel(f"unknown model {name[:64]!r}: this instance serves {m.name}{aliases}")

    async def async_infer(self, content_type: str | None, body: bytes, shape: str | None) -> dict[str, Any]:
        m = self.model
        prediction = await self._batcher.submit(parse_body(content_type, body, shape, m.input))
        return {"labels": list(prediction.labels), "scores": list(prediction.scores), "model": m.name,
                "version": m.version, "variant": m.variant, "node_id": self.node_id}

    def async_record(self, status: int, seconds: float) -> None:
        self._stats.record_request(self._clock(), status, seconds * 1000.0)
        self.metrics.observe_request(status, seconds)

    def _async_on_batch(self, size: int, seconds: float) -> None:
        self._stats.record_batch(self._clock(), size, seconds)
        self.metrics.observe_batch(size, seconds)

    def async_load(self) -> dict[str, Any]:
        m = self.model
        snap = self._stats.snapshot(self._clock(), queued=self._batcher.queued, in_flight=self._batcher.in_flight)
        return {**snap, "model": m.name, "version": m.version, "variant": m.variant, "node_id": self.node_id,
                "max_batch": self.config.max_batch, "max_wait_ms": self.config.max_wait_ms}

    def async_health(self) -> tuple[bool, dict[str, Any]]:
        m = self.model
        return self._serving, {"status": "ok" if self._serving else "stopping", "model": m.name,
                               "version": m.version, "variant": m.variant, "node_id": self.node_id}

    def render_metrics(self) -> bytes:
        """Prometheus text (blocking: the HTTP handler calls it from a thread)."""
        return self.metrics.render()


def sync_main(config: ServeConfig) -> ExitCode:
    """Serve until SIGTERM/SIGINT; return the exit code (0 after a SIGTERM shutdown)."""
    return asyncio.run(run_daemon(InferenceServer(config), name=NAME, logger=_LOG))


__all__ = ["NAME", "InferenceServer", "sync_main"]
