"""aiohttp plumbing shared by the gateway's HTTP daemons (the router and the inference instance).

- :func:`json_response` / :func:`error_response`: every answer is JSON, every error ``{"error": ...}``;
- :data:`json_errors`: a middleware rewriting aiohttp's own errors (unknown route, wrong method,
  body over ``client_max_size``) to that shape;
- :func:`async_listen`: bind an application, mapping "address in use" to a typed error;
- :func:`http_url`: ``http://HOST:PORT`` with IPv6 brackets.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway._exceptions import GatewayError, PortInUse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(body, sort_keys=True), status=status, content_type="application/json",
                        headers=headers)


def error_response(status: int, message: str) -> web.Response:
    return json_response(status, {"error": message})


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's HTTP errors (404, 405, 413, ...) into JSON errors; redirects pass."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.text or exc.reason)


def http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def async_listen(app: web.Application, host: str, port: int, *, shutdown_timeout_s: float,
                       in_use: type[PortInUse], failed: type[GatewayError]) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port); return the runner and the bound port.

    An address already in use raises ``in_use`` (naming ``--port 0`` as the way out); any other bind
    error raises ``failed``. The runner is cleaned up before either is raised.
    """
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise in_use(f"port {where} is already in use: stop the other process or pass --port 0 for a "
                         "free port") from exc
        raise failed(f"cannot listen on {where}: {exc.strerror}") from exc
    return runner, int(runner.addresses[0][1])


__all__ = ["Handler", "async_listen", "error_response", "http_url", "json_errors", "json_response"]
