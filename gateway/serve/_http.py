"""The instance's HTTP surface (aiohttp): thin handlers over a :class:`ServeCore`.

Routes::

    POST /v1/infer/{model}   one crop (see gateway.serve._codec) → {labels, scores, model, version,
                             variant, node_id, server_ms}
    GET  /v1/load            queue, in-flight, counters, recent server/batch-time percentiles
    GET  /healthz            200 {"status": "ok", …} while serving, 503 otherwise
    GET  /metrics            Prometheus text of the instance's own registry

Every error is JSON ``{"error": "..."}`` with a 4xx/5xx status; aiohttp's own errors (unknown
route, wrong method, body over ``client_max_size``) are rewritten to that shape by a middleware.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway._exceptions import BodyTooLarge, InferRequestError
from gateway._web import json_errors, json_response
from gateway.serve._codec import TENSOR_SHAPE_HEADER

_LOG = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 5.0  # in-flight requests get this long to be answered at shutdown


class ServeCore(Protocol):
    """What the handlers need of the server. ``async_`` methods and properties run on the loop."""

    def async_check_model(self, name: str) -> None: ...

    async def async_infer(self, content_type: str | None, body: bytes, shape: str | None) -> dict[str, Any]: ...

    def async_record(self, status: int, seconds: float) -> None: ...

    def async_load(self) -> dict[str, Any]: ...

    def async_health(self) -> tuple[bool, dict[str, Any]]: ...

    def render_metrics(self) -> bytes: ...


_CORE: web.AppKey[ServeCore] = web.AppKey("core", ServeCore)


async def _read_body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise BodyTooLarge(exc.text or "request body too large") from exc


async def _infer(request: web.Request) -> web.Response:
    core = request.app[_CORE]
    started = time.perf_counter()
    try:
        core.async_check_model(request.match_info["model"])
        body = await _read_body(request)
        answer = await core.async_infer(request.headers.get(hdrs.CONTENT_TYPE), body,
                                        request.headers.get(TENSOR_SHAPE_HEADER))
    except InferRequestError as exc:
        status, answer = exc.status, {"error": str(exc)}
    except Exception as exc:  # the engine failed on this batch (the batcher logged it): 500, keep serving
        _LOG.debug("request failed", exc_info=exc)
        status, answer = 500, {"error": f"inference failed: {exc}"}
    else:
        status = 200
    elapsed = time.perf_counter() - started
    core.async_record(status, elapsed)
    if status == 200:
        answer["server_ms"] = round(elapsed * 1000.0, 3)
    return json_response(status, answer)


async def _load(request: web.Request) -> web.Response:
    return json_response(200, request.app[_CORE].async_load())


async def _healthz(request: web.Request) -> web.Response:
    ok, body = request.app[_CORE].async_health()
    return json_response(200 if ok else 503, body)


async def _metrics(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(request.app[_CORE].render_metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(core: ServeCore, *, max_body_bytes: int) -> web.Application:
    """The aiohttp application of one instance (bodies over ``max_body_bytes`` get 413)."""
    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_errors])
    app[_CORE] = core
    app.router.add_post("/v1/infer/{model}", _infer)
    app.router.add_get("/v1/load", _load)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


__all__ = ["SHUTDOWN_TIMEOUT_S", "ServeCore", "build_app", "json_response"]
