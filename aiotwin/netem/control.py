"""HTTP JSON control API of the emulator (aiohttp, loopback).

=========================== ====================================================================
``GET /links``              ``{"links": [link, ...]}``
``GET /links/{name}``       one link: name, protocol, listen, target, shape (404 if unknown)
``PUT /links/{name}``       partial shape (see :mod:`aiotwin.netem.shape`); returns the link
``POST /links/{name}/blackhole``  ``{"on": true}`` or ``{"on": false}``; returns the link
``GET /metrics``            ``{"links": {name: counters}}`` (see :mod:`aiotwin.netem.stats`)
=========================== ====================================================================

Request bodies are parsed strictly by :func:`parse_shape_update` and :func:`parse_blackhole`:
bad JSON, unknown keys, wrong types and out-of-range values give ``400`` with
``{"error": message, "problems": [{"field": ..., "message": ...}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from aiotwin.netem._exceptions import ControlRequestError, LinkNotFound, NetemError, ShapeError
from aiotwin.netem.interfaces import Address, bind_error
from aiotwin.netem.shape import LinkShape, apply_patch, parse_patch

if TYPE_CHECKING:
    from aiotwin.netem.emulator import LinkEmulator

SHUTDOWN_TIMEOUT_S = 2.0  # in-flight control requests get this long at shutdown
_EMULATOR_KEY: web.AppKey[LinkEmulator] = web.AppKey("emulator")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _decode_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ControlRequestError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ControlRequestError(f"body must be a JSON object, got {type(data).__name__}")
    return data


def parse_shape_update(body: bytes, current: LinkShape) -> LinkShape:
    """Pure: the shape after applying the JSON patch ``body``; raises only :class:`ControlRequestError`."""
    data = _decode_object(body)
    try:
        return apply_patch(current, parse_patch(data, source="<request>"))
    except ShapeError as exc:
        raise ControlRequestError(f"invalid shape: {exc}", exc.problems) from exc


def parse_blackhole(body: bytes) -> bool:
    """Pure: ``{"on": true|false}`` → the switch; raises only :class:`ControlRequestError`."""
    data = _decode_object(body)
    unknown = sorted(set(data) - {"on"})
    if unknown:
        raise ControlRequestError("unknown key", [(key, "unknown key (known: on)") for key in unknown])
    on = data.get("on")
    if not isinstance(on, bool):
        raise ControlRequestError("expected {\"on\": true|false}", [("on", f"expected true or false, got {on!r}")])
    return on


def _error(status: int, message: str, problems: list[tuple[str, str]] | None = None) -> web.Response:
    body = {"error": message, "problems": [{"field": f, "message": m} for f, m in problems or []]}
    return web.json_response(body, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LinkNotFound as exc:
        return _error(404, str(exc))
    except ControlRequestError as exc:
        return _error(400, str(exc), exc.problems)
    except NetemError as exc:
        return _error(409, str(exc))


def _emulator(request: web.Request) -> LinkEmulator:
    return request.app[_EMULATOR_KEY]


async def _list_links(request: web.Request) -> web.Response:
    return web.json_response({"links": [link.describe() for link in _emulator(request).links()]})


async def _get_link(request: web.Request) -> web.Response:
    return web.json_response(_emulator(request).link(request.match_info["name"]).describe())


async def _put_link(request: web.Request) -> web.Response:
    link = _emulator(request).link(request.match_info["name"])
    link.set_shape(parse_shape_update(await request.read(), link.shape))
    return web.json_response(link.describe())


async def _post_blackhole(request: web.Request) -> web.Response:
    emulator = _emulator(request)
    name = request.match_info["name"]
    emulator.link(name)  # 404 before looking at the body
    emulator.blackhole(name, parse_blackhole(await request.read()))
    return web.json_response(emulator.link(name).describe())


async def _metrics(request: web.Request) -> web.Response:
    return web.json_response(_emulator(request).metrics())


def build_app(emulator: LinkEmulator) -> web.Application:
    """The aiohttp application serving ``emulator`` (usable with aiohttp's test tools too)."""
    app = web.Application(middlewares=[_errors])
    app[_EMULATOR_KEY] = emulator
    app.router.add_get("/links", _list_links)
    app.router.add_get("/links/{name}", _get_link)
    app.router.add_put("/links/{name}", _put_link)
    app.router.add_post("/links/{name}/blackhole", _post_blackhole)
    app.router.add_get("/metrics", _metrics)
    return app


class ControlServer:
    """Serves :func:`build_app` on ``address`` (port 0 picks a free port; read :attr:`address`)."""

    def __init__(self, emulator: LinkEmulator, address: Address) -> None:
        self.address = address
        self._runner = web.AppRunner(build_app(emulator), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def async_start(self) -> None:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, *self.address).start()
        except OSError as exc:
            await self._runner.cleanup()
            raise bind_error("control", self.address, exc) from exc
        if self._runner.addresses:
            self.address = (self.address[0], int(self._runner.addresses[0][1]))

    async def async_stop(self) -> None:
        await self._runner.cleanup()


__all__ = ["SHUTDOWN_TIMEOUT_S", "ControlServer", "build_app", "parse_blackhole", "parse_shape_update"]
