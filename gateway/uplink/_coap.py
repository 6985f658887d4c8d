"""The CoAP binding of the uplink (aiocoap): resources ``/events`` and ``/cfg`` on one :class:`Site`.

This module imports aiocoap at the top; :mod:`gateway.uplink._server` imports it only in ``start()``
so that ``import gateway.uplink`` works without the extra. The resources are thin: parsing is
:func:`aiotwin.wire.decode_event_batch`, storing is the injected :class:`Ingest`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiocoap
from aiocoap import error, resource
from aiocoap.numbers import ContentFormat

from aiotwin.discovery import NODE_ID_PATTERN
from aiotwin.wire import PROTOCOL_VERSION, Event, WireError, decode_event_batch
from gateway._exceptions import UplinkError
from gateway.uplink._store import PutResult

_LOG = logging.getLogger("gateway.uplink")

EVENTS_PATH = ("events",)
CFG_PATH = ("cfg",)
CFG_MAX_AGE_S = 60  # RFC 7252 §5.10.5 default Max-Age; observers re-register when it runs out (RFC 7641 §3.3.1)
JSON = ContentFormat.JSON
TEXT = ContentFormat.TEXT
MAX_DIAGNOSTIC_CHARS = 300  # a diagnostic payload fits one datagram with room to spare


class Ingest(Protocol):
    """What ``POST /events`` calls after parsing: store durably, then return."""

    async def async_ingest(self, events: list[Event], node: str | None) -> PutResult: ...


@dataclass
class IngressCounters:
    """Requests to ``/events`` by outcome, and events by outcome (this process)."""

    batches: int = 0
    events_stored: int = 0
    events_duplicate: int = 0
    malformed: int = 0
    too_large: int = 0
    unsupported_format: int = 0
    store_failures: int = 0


class _TooLarge(error.RequestEntityTooLarge):  # type: ignore[misc]
    """4.13 with Size1 = the largest accepted payload (RFC 7959 §4)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"batch payload larger than {limit} bytes: send smaller batches")
        self.limit = limit

    def to_message(self) -> aiocoap.Message:
        msg = super().to_message()
        msg.opt.size1 = self.limit
        msg.opt.content_format = TEXT
        return msg


def _diagnostic(code: aiocoap.numbers.codes.Code, text: str) -> aiocoap.Message:
    return aiocoap.Message(code=code, payload=text[:MAX_DIAGNOSTIC_CHARS].encode(), content_format=TEXT)


def _node_of(request: aiocoap.Message) -> str | None:
    """The sender's node id from the ``node=<id>`` query (optional; never an address)."""
    for item in request.opt.uri_query:
        key, _, value = item.partition("=")
        if key == "node":
            if not NODE_ID_PATTERN.fullmatch(value):
                raise WireError(f"query node={value[:40]!r} is not a node id")
            return str(value)
    return None


def _received_bytes(request: aiocoap.Message) -> int:
    """The end of this request's payload within the whole body (Block1: block size = 2 ** (SZX + 4))."""
    block = request.opt.block1
    offset = 0 if block is None else block.block_number * 2 ** (block.size_exponent + 4)
    return offset + len(request.payload)


class EventsResource(resource.Resource):  # type: ignore[misc]
    """``POST /events``: a JSON array of wire events (or one event object), all or nothing.

    2.04 Changed only after the store's durable commit, payload ``{"v", "accepted", "stored",
    "duplicates"}``; 4.00 for a malformed batch (nothing stored); 4.13 beyond ``max_bytes`` (checked
    per Block1 block, before reassembly); 4.15 for a content format other than JSON; 5.00 when the
    store fails (the device retries later).
    """

    rt = "aiotwin.events"
    ct = int(JSON)

    def __init__(self, ingest: Ingest, *, max_bytes: int, counters: IngressCounters) -> None:
        super().__init__()
        self._ingest = ingest
        self._max_bytes = max_bytes
        self.counters = counters

    async def needs_blockwise_assembly(self, request: aiocoap.Message) -> bool:
        size1 = request.opt.size1
        if _received_bytes(request) > self._max_bytes or (size1 is not None and size1 > self._max_bytes):
            self.counters.too_large += 1
            raise _TooLarge(self._max_bytes)
        return True

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        fmt = request.opt.content_format
        if fmt is not None and fmt != JSON:
            self.counters.unsupported_format += 1
            return _diagnostic(aiocoap.UNSUPPORTED_CONTENT_FORMAT, "send application/json (content-format 50)")
        if len(request.payload) > self._max_bytes:
            self.counters.too_large += 1
            return _TooLarge(self._max_bytes).to_message()
        try:
            node = _node_of(request)
            events = decode_event_batch(request.payload)
        except WireError as exc:
            self.counters.malformed += 1
            _LOG.debug("rejected a batch from %s: %s", request.remote, exc)
            return _diagnostic(aiocoap.BAD_REQUEST, str(exc))
        try:
            result = await self._ingest.async_ingest(events, node)
        except UplinkError as exc:
            self.counters.store_failures += 1
            _LOG.error("event store failed, batch refused (the device retries): %s", exc)
            return _diagnostic(aiocoap.INTERNAL_SERVER_ERROR, "event store unavailable: retry later")
        self.counters.batches += 1
        self.counters.events_stored += len(result.stored)
        self.counters.events_duplicate += len(result.duplicates)
        receipt = {"v": PROTOCOL_VERSION, "accepted": list(result.accepted), "stored": len(result.stored),
                   "duplicates": len(result.duplicates)}
        return aiocoap.Message(code=aiocoap.CHANGED, payload=json.dumps(receipt, separators=(",", ":")).encode(),
                               content_format=JSON)


class CfgResource(resource.ObservableResource):  # type: ignore[misc]
    """``GET /cfg`` (Observe): the :class:`~aiotwin.wire.DeviceDirectives` as JSON."""

    rt = "aiotwin.cfg"
    ct = int(JSON)

    def __init__(self, render: Callable[[], bytes]) -> None:
        super().__init__()
        self._render = render

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=self._render(), content_format=JSON, max_age=CFG_MAX_AGE_S)

    def async_notify(self) -> None:
        """Send the current document to every observer (must run on the loop)."""
        self.updated_state()


def build_site(ingest: Ingest, render_cfg: Callable[[], bytes], *, max_bytes: int,
               counters: IngressCounters) -> tuple[resource.Site, CfgResource]:
    """The uplink's site: ``/events``, ``/cfg`` and aiocoap's ``/.well-known/core``."""
    site = resource.Site()
    site.add_resource([".well-known", "core"], resource.WKCResource(site.get_resources_as_linkheader))
    site.add_resource(list(EVENTS_PATH), EventsResource(ingest, max_bytes=max_bytes, counters=counters))
    cfg = CfgResource(render_cfg)
    site.add_resource(list(CFG_PATH), cfg)
    return site, cfg


async def async_create_context(site: resource.Site, host: str, port: int) -> tuple[aiocoap.Context, int]:
    """A server context on UDP ``host:port`` only (no TCP/TLS/WebSocket listeners); return it and its port."""
    ctx = await aiocoap.Context.create_server_context(site, bind=(host, port), transports=["udp6"])
    return ctx, _bound_port(ctx, port)


def _bound_port(ctx: aiocoap.Context, fallback: int) -> int:
    """The UDP port actually bound (``port=0`` picks one); aiocoap has no public accessor for it."""
    for iface in getattr(ctx, "request_interfaces", []):
        transport = getattr(getattr(getattr(iface, "token_interface", None), "message_interface", None),
                            "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            return int(sock.getsockname()[1])
    return fallback


__all__ = [
    "CFG_MAX_AGE_S", "CFG_PATH", "EVENTS_PATH", "JSON", "MAX_DIAGNOSTIC_CHARS", "TEXT", "CfgResource",
    "EventsResource", "Ingest", "IngressCounters", "async_create_context", "build_site",
]
