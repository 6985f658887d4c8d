"""The router's HTTP surface (aiohttp): thin handlers over a :class:`RouterCore`.

Routes::

    POST /v1/infer/{model}   X-Client-Id (required), X-Deadline-Ms (optional) → the instance's JSON
                             answer plus "instance"; headers X-Aiotwin-Instance, X-Aiotwin-Attempts
    GET  /v1/qos/{client}    the policy's estimate for that client (200 with "observations": 0 when
                             the router has not seen it yet)
    GET  /v1/instances       every known instance: source, state (healthy/ejected), estimates
    GET  /healthz            200 while routing, 503 while stopping
    GET  /metrics            Prometheus text of the router's own registry

Every error is JSON ``{"error": "..."}``: 400 bad headers, 413 body too large, 503 no instance,
502/504 when no instance answered; an instance's own 4xx/5xx JSON passes through.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiohttp import hdrs, web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway._exceptions import InvalidRequestHeader, NoInstancesError
from gateway._web import error_response, json_errors, json_response
from gateway.proxy._forward import Request, Routed
from gateway.proxy._wire import (
    ATTEMPTS_HEADER,
    CLIENT_ID_HEADER,
    DEADLINE_HEADER,
    INSTANCE_HEADER,
    TENSOR_SHAPE_HEADER,
    parse_client_id,
    parse_deadline_ms,
)

SHUTDOWN_TIMEOUT_S = 5.0  # in-flight requests get this long to be answered at shutdown
FORWARDED_HEADERS = (hdrs.CONTENT_TYPE, TENSOR_SHAPE_HEADER)


class RouterCore(Protocol):
    """What the handlers need of the router. ``async_`` methods run on the loop."""

    async def async_route(self, req: Request) -> Routed: ...

    def async_record(self, client: str, status: int, elapsed_ms: float) -> None: ...

    def async_qos(self, client: str) -> dict[str, Any]: ...

    def async_instances(self) -> dict[str, Any]: ...

    def async_health(self) -> tuple[bool, dict[str, Any]]: ...

    def async_refresh_metrics(self) -> None: ...

    def render_metrics(self) -> bytes: ...


_CORE: web.AppKey[RouterCore] = web.AppKey("router", RouterCore)


def _parse_headers(request: web.Request) -> tuple[str, float | None, dict[str, str]]:
    client = parse_client_id(request.headers.get(CLIENT_ID_HEADER))
    deadline = parse_deadline_ms(request.headers.get(DEADLINE_HEADER))
    forwarded = {h: v for h in FORWARDED_HEADERS if (v := request.headers.get(h)) is not None}
    return client, deadline, forwarded


async def _infer(request: web.Request) -> web.Response:
    core = request.app[_CORE]
    try:
        client, deadline, forwarded = _parse_headers(request)
    except InvalidRequestHeader as exc:
        return error_response(exc.status, str(exc))
    req = Request(client, request.match_info["model"], await request.read(), forwarded, deadline)
    try:
        routed = await core.async_route(req)
    except NoInstancesError as exc:
        core.async_record(req.client, 503, 0.0)
        return error_response(503, f"{exc}: start an instance (aiotwin-gateway serve) or pass --instance")
    core.async_record(req.client, routed.status, routed.elapsed_ms)
    headers = {INSTANCE_HEADER: routed.instance, ATTEMPTS_HEADER: str(len(routed.attempts))}
    return json_response(routed.status, routed.body, headers)


async def _qos(request: web.Request) -> web.Response:
    try:
        client = parse_client_id(request.match_info["client"])
    except InvalidRequestHeader as exc:
        return error_response(400, str(exc).replace(f"{CLIENT_ID_HEADER} ", "client id ", 1))
    return json_response(200, request.app[_CORE].async_qos(client))


async def _instances(request: web.Request) -> web.Response:
    return json_response(200, request.app[_CORE].async_instances())


async def _healthz(request: web.Request) -> web.Response:
    ok, body = request.app[_CORE].async_health()
    return json_response(200 if ok else 503, body)


async def _metrics(request: web.Request) -> web.Response:
    core = request.app[_CORE]
    core.async_refresh_metrics()
    body = await asyncio.to_thread(core.render_metrics)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(core: RouterCore, *, max_body_bytes: int) -> web.Application:
    """The router's aiohttp application (bodies over ``max_body_bytes`` get 413)."""
    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_errors])
    app[_CORE] = core
    app.router.add_post("/v1/infer/{model}", _infer)
    app.router.add_get("/v1/qos/{client}", _qos)
    app.router.add_get("/v1/instances", _instances)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    return app


__all__ = ["FORWARDED_HEADERS", "SHUTDOWN_TIMEOUT_S", "RouterCore", "build_app"]
