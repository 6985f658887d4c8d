"""The device's CoAP uplink: drain the outbox to the gateway, observe the gateway's ``/cfg``.

- **Where.** :class:`~device_runtime._locate.GatewayLocator`: a gateway found by mDNS
  (``_aiotwin-gw._udp``, the preferred node id first) wins; otherwise the configured
  ``[uplink] gateway = "coap://host:port"``.
- **Events.** FIFO batches from the outbox (``peek``, at most ``batch-events`` and ``batch-bytes``)
  go as one confirmable ``POST /events?node=<id>``. Outbox rows are acked **only after 2.04**, which
  the gateway sends after its durable commit; so an acked event is in the gateway's store, and an
  event whose reply was lost is re-sent and stored once there (ids are idempotency keys).
- **Failures.** A timeout, a network error or a 5.xx nacks the batch (it keeps its place) and backs
  off (:class:`aiotwin.retry.Backoff`, full jitter) until the gateway answers. A 4.00/4.13/4.15 is a
  permanent refusal of *some* event: the batch is split in halves until the refused event is alone;
  that event is logged, counted (``rejected``) and removed, so it cannot block the queue forever.
- **Directives.** ``GET /cfg`` with Observe; the latest :class:`~aiotwin.wire.DeviceDirectives` is
  :attr:`Uplink.directives` (changes are logged and passed to ``on_directives``). The observation
  is renewed when it goes quiet past Max-Age (RFC 7641 §3.3.1), when the gateway changes, and when
  the gateway comes back after an outage.
- **Byte budget.** Events are charged to :attr:`Uplink.budget` after they are sent, never held back;
  other traffic asks the budget with ``try_spend``.

Outbox calls run in threads; everything else runs on the loop. aiocoap is imported in
:meth:`Uplink.start` (extra ``infer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiotwin.availability import require
from aiotwin.lifecycle import TaskSet
from aiotwin.retry import DEFAULT_BASE_S, Backoff
from aiotwin.wire import (
    DEFAULT_BYTE_BUDGET_PER_H,
    DeviceDirectives,
    WireError,
    decode_directives,
    encode_event,
    encode_event_batch,
)
from device_runtime._budget import ByteBudget
from device_runtime._exceptions import OutboxError
from device_runtime._locate import COAP_DEFAULT_PORT, GatewayLocator, parse_gateway_uri
from device_runtime.config import UplinkConfig
from device_runtime.outbox import DEFAULT_DEST, Outbox, StoredEvent

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncZeroconf

_LOG = logging.getLogger("device_runtime.uplink")
_T = TypeVar("_T")

IDLE_POLL_S = 1.0  # an empty outbox is re-checked this often even without a wake-up
NO_GATEWAY_POLL_S = 2.0  # while neither mDNS nor the config names a gateway
CFG_DEFAULT_MAX_AGE_S = 60  # RFC 7252 §5.10.5 Max-Age default
CFG_STALE_GRACE_S = 5.0  # renew an observation this long after Max-Age passed without a notification
REQUEST_OVERHEAD_BYTES = 48  # IPv4 20 + UDP 8 + CoAP header, token and options ~20, per request
_REFUSED = (128, 141, 143)  # 4.00 Bad Request, 4.13 Request Entity Too Large, 4.15 Unsupported Format

Outcome = Literal["ok", "refused", "failed"]


@dataclass
class UplinkCounters:
    """What the uplink did in this process (for /metrics)."""

    sent: int = 0  # events put in a POST (re-sends count again)
    acked: int = 0  # events acknowledged by 2.04 and removed from the outbox
    rejected: int = 0  # events the gateway refused permanently (4.xx), removed and logged
    failures: int = 0  # POSTs that timed out, hit a network error or got a 5.xx
    bytes_sent: int = 0
    directives_updates: int = 0


@dataclass(frozen=True)
class UplinkStats:
    counters: UplinkCounters
    pending: int  # events waiting in the outbox for the gateway
    gateway: str | None
    connected: bool | None
    budget_available: int
    budget_per_h: int


def _delay(backoff: Backoff, cap_s: float) -> float:
    delay = backoff.next_delay()
    return cap_s if delay is None else delay


async def _first(aw: Awaitable[_T], interrupt: asyncio.Event, within_s: float) -> _T | None:
    """``await aw`` unless ``interrupt`` is set or ``within_s`` passes first (then ``None``)."""
    main = asyncio.ensure_future(aw)
    stop = asyncio.ensure_future(interrupt.wait())
    try:
        done, _ = await asyncio.wait({main, stop}, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        return main.result() if main in done else None
    finally:
        for t in (main, stop):
            t.cancel()
        await asyncio.gather(main, stop, return_exceptions=True)


class Uplink:
    """Outbox → gateway over CoAP, and the gateway's directives back; see the module docstring.

    ``context`` (an aiocoap client context) and ``zeroconf`` are injected, or created in
    :meth:`start` (``zeroconf`` only with ``mdns = true``) and then owned and closed.
    ``on_directives`` is called on the loop with each changed document.
    """

    def __init__(self, outbox: Outbox, config: UplinkConfig, *, node_id: str, dest: str = DEFAULT_DEST,
                 zeroconf: AsyncZeroconf | None = None, context: Any = None,
                 on_directives: Callable[[DeviceDirectives], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.config = config
        self.node_id = node_id
        self.dest = dest
        self.counters = UplinkCounters()
        self.directives: DeviceDirectives | None = None
        self.budget = ByteBudget(self._budget_rate(None), clock=clock)
        self._zeroconf = zeroconf
        self._owns_zeroconf = zeroconf is None
        self._context = context
        self._owns_context = context is None
        self._on_directives = on_directives
        self._renew = asyncio.Event()
        self._locator = GatewayLocator(config.gateway, config.prefer_gateway, on_change=self._renew.set)
        self._tasks = TaskSet()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected: bool | None = None  # None: nothing sent yet

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the CoAP client, start browsing, start draining and observing; return at once."""
        require("coap")
        import aiocoap

        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._context is None:
            self._context = await aiocoap.Context.create_client_context(transports=["udp6"])
        if self.config.mdns and self._zeroconf is None:
            from aiotwin.discovery import async_open_zeroconf

            self._zeroconf = async_open_zeroconf(self.config.mdns_interfaces)
        await self._locator.async_start(self._zeroconf)
        self._tasks.spawn(self._drain_loop(), name="uplink-drain")
        self._tasks.spawn(self._observe_loop(), name="uplink-cfg")
        _LOG.info("uplink started: gateway %s, mDNS %s", self.config.gateway or "-", "on" if self._zeroconf else "off")

    async def close(self) -> None:
        """Stop the loops (an unanswered batch stays in the outbox), the browser and the client."""
        await self._tasks.close()
        await self._locator.async_stop()
        if self._owns_zeroconf and self._zeroconf is not None:
            zc, self._zeroconf = self._zeroconf, None
            await zc.async_close()
        if self._owns_context and self._context is not None:
            ctx, self._context = self._context, None
            await ctx.shutdown()

    def wake(self) -> None:
        """New events are in the outbox: drain now (any thread)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(wake.set)

    def gateway(self) -> str | None:
        return self._locator.current()

    def stats(self) -> UplinkStats:
        """Counters, outbox depth and budget (blocking: reads the outbox; call from a thread)."""
        pending = self.outbox.stats().depth_by_dest.get(self.dest, 0)
        return UplinkStats(self.counters, pending, self.gateway(), self.connected, self.budget.available(),
                           self.budget.bytes_per_h)

    # -- events ----------------------------------------------------------------------------------

    def _next_batch(self) -> list[StoredEvent]:
        rows = self.outbox.peek(self.dest, self.config.batch_events)
        batch: list[StoredEvent] = []
        size = 2
        for row in rows:
            size += len(encode_event(row.event)) + 1
            if batch and size > self.config.batch_bytes:
                break
            batch.append(row)
        return batch

    async def _drain_loop(self) -> None:
        backoff = Backoff(base_s=DEFAULT_BASE_S, cap_s=self.config.retry_max_s)
        while True:
            uri = self._locator.current()
            if uri is None:
                await self._idle(NO_GATEWAY_POLL_S)
                continue
            assert self._wake is not None
            self._wake.clear()
            batch = await asyncio.to_thread(self._next_batch)
            if not batch:
                await self._idle(IDLE_POLL_S)
                continue
            try:
                delivered = await self._deliver(uri, batch)
            except OutboxError as exc:
                _LOG.error("uplink: outbox failed: %s", exc)
                delivered = False
            except Exception:  # a bug must not stop delivery for good: log it, back off, go on
                _LOG.exception("uplink: unexpected error while sending to %s", uri)
                delivered = False
            if delivered:
                self._up(uri, backoff)
                continue
            delay = _delay(backoff, self.config.retry_max_s)
            self._down(uri, delay)
            await asyncio.sleep(delay)

    async def _idle(self, seconds: float) -> None:
        assert self._wake is not None
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    def _up(self, uri: str, backoff: Backoff) -> None:
        if self.connected is not True:
            _LOG.info("uplink: gateway %s answers", uri)
            self.connected = True
            self._renew.set()  # a gateway that was away lost our observation
        backoff.succeeded()

    def _down(self, uri: str, delay: float) -> None:
        if self.connected is not False:
            _LOG.warning("uplink: gateway %s does not answer; events stay in the outbox", uri)
            self.connected = False
        _LOG.debug("uplink: retrying %s in %.1f s", uri, delay)

    async def _deliver(self, uri: str, batch: Sequence[StoredEvent]) -> bool:
        """Send ``batch``; split it around a refused event. True when every event is settled."""
        outcome, detail = await self._post(uri, batch)
        if outcome != "refused":
            return outcome == "ok"
        if len(batch) == 1:
            await self._drop(batch[0], detail)
            return True
        mid = len(batch) // 2
        return await self._deliver(uri, batch[:mid]) and await self._deliver(uri, batch[mid:])

    async def _post(self, uri: str, batch: Sequence[StoredEvent]) -> tuple[Outcome, str]:
        import aiocoap

        ids = [row.event.id for row in batch]
        payload = encode_event_batch([row.event for row in batch])
        msg = aiocoap.Message(code=aiocoap.POST, uri=f"{uri}/events?node={self.node_id}", payload=payload,
                              content_format=aiocoap.numbers.ContentFormat.JSON)  # requests go CON by default
        self.counters.sent += len(batch)
        self.counters.bytes_sent += len(payload)
        self.budget.charge(len(payload) + REQUEST_OVERHEAD_BYTES)
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                resp = await self._context.request(msg).response
        except (TimeoutError, aiocoap.error.Error) as exc:
            return await self._failed(ids, f"{type(exc).__name__}: {exc}")
        if resp.code.is_successful():
            self.counters.acked += await asyncio.to_thread(self.outbox.ack, ids)
            return "ok", ""
        detail = f"{resp.code}: {resp.payload[:200].decode('utf-8', 'replace')}"
        if int(resp.code) in _REFUSED:
            return "refused", detail
        return await self._failed(ids, detail)

    async def _failed(self, ids: list[str], detail: str) -> tuple[Outcome, str]:
        self.counters.failures += 1
        _LOG.debug("uplink: batch of %d not delivered: %s", len(ids), detail)
        await asyncio.to_thread(self.outbox.nack, ids)
        return "failed", detail

    async def _drop(self, row: StoredEvent, detail: str) -> None:
        _LOG.error("uplink: gateway refused event %s (%s) for good, removing it from the outbox: %s",
                   row.event.id, row.event.kind, detail)
        await asyncio.to_thread(self.outbox.ack, [row.event.id])
        self.counters.rejected += 1

    # -- directives ------------------------------------------------------------------------------

    async def _observe_loop(self) -> None:
        import aiocoap

        backoff = Backoff(base_s=DEFAULT_BASE_S, cap_s=self.config.retry_max_s)
        while True:
            uri = self._locator.current()
            if uri is None:
                await asyncio.sleep(NO_GATEWAY_POLL_S)
                continue
            self._renew.clear()
            try:
                await self._observe(uri)
                backoff.succeeded()
                continue
            except (TimeoutError, aiocoap.error.Error, WireError) as exc:
                _LOG.debug("uplink: observing %s/cfg failed: %s", uri, exc)
            except Exception:  # as in the drain loop: never stop observing for good
                _LOG.exception("uplink: unexpected error while observing %s/cfg", uri)
            delay = _delay(backoff, self.config.retry_max_s)
            await _first(asyncio.sleep(delay), self._renew, delay)

    async def _observe(self, uri: str) -> None:
        """Register, apply every notification; return when the observation should be renewed."""
        import aiocoap

        req = self._context.request(aiocoap.Message(code=aiocoap.GET, uri=f"{uri}/cfg", observe=0))
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                resp = await req.response
            stale_s = self._apply(resp)
            if req.observation is None or resp.opt.observe is None:  # not observable: poll at Max-Age
                await _first(asyncio.sleep(stale_s), self._renew, stale_s)
                return
            notifications = aiter(req.observation)
            while (resp := await _first(anext(notifications), self._renew, stale_s)) is not None:
                stale_s = self._apply(resp)
        except StopAsyncIteration:
            return
        finally:
            req.response.cancel()
            if req.observation is not None and not req.observation.cancelled:
                req.observation.cancel()

    def _apply(self, resp: Any) -> float:
        """Take a ``/cfg`` response; return how long it stays fresh."""
        if not resp.code.is_successful():
            raise WireError(f"/cfg answered {resp.code}")
        new = decode_directives(resp.payload)
        if new != self.directives:
            _LOG.info("uplink: gateway directives %s", new)
            self.directives = new
            self.counters.directives_updates += 1
            self.budget.set_rate(self._budget_rate(new))
            if self._on_directives is not None:
                self._on_directives(new)
        max_age = resp.opt.max_age
        return float(CFG_DEFAULT_MAX_AGE_S if max_age is None else max_age) + CFG_STALE_GRACE_S

    def _budget_rate(self, directives: DeviceDirectives | None) -> int:
        local = self.config.byte_budget_per_h
        remote = directives.byte_budget_per_h if directives is not None else None
        candidates = [b for b in (local, remote) if b is not None]
        return min(candidates) if candidates else DEFAULT_BYTE_BUDGET_PER_H


__all__ = [
    "CFG_DEFAULT_MAX_AGE_S", "CFG_STALE_GRACE_S", "COAP_DEFAULT_PORT", "IDLE_POLL_S", "NO_GATEWAY_POLL_S",
    "REQUEST_OVERHEAD_BYTES", "ByteBudget", "GatewayLocator", "Outcome", "Uplink", "UplinkCounters", "UplinkStats",
    "parse_gateway_uri",
]
