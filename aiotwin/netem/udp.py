"""UDP link: a datagram proxy with one upstream socket per client address.

A datagram from a new client address opens a session: a socket connected to the target, whose
replies go back to that client from the listening socket (the client sees one peer, as behind a
NAT). Every datagram is planned with :func:`aiotwin.netem.delay.plan_datagram` (loss, bandwidth,
latency) and sent by a timer; datagrams may be reordered by jitter, as on a real path. While the
blackhole is on every datagram is dropped, including those already in flight. Sessions idle for
:data:`UDP_SESSION_IDLE_S` are closed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from aiotwin.lifecycle import TaskSet
from aiotwin.netem.delay import NEVER, plan_datagram
from aiotwin.netem.interfaces import Address, Clock, Link, LoopClock, bind_error
from aiotwin.netem.shape import LinkShape

_LOG = logging.getLogger(__name__)

# RFC 4787 REQ-5: a NAT's UDP mapping must not expire in less than 2 minutes.
UDP_SESSION_IDLE_S = 120.0
# How often idle sessions are looked for.
UDP_SWEEP_S = 10.0


class _Endpoint(asyncio.DatagramProtocol):
    """Forwards received datagrams to ``on_datagram`` and resolves ``closed`` when the socket is gone."""

    def __init__(self, on_datagram: Callable[[bytes, Address], None]) -> None:
        self.on_datagram = on_datagram
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        _LOG.debug("udp socket error: %s", exc)  # ICMP port unreachable from a closed peer, typically

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _close(transport: asyncio.DatagramTransport, endpoint: _Endpoint) -> None:
    transport.close()
    await endpoint.closed


class _Session:
    """One client address: its upstream socket (once open) and datagrams waiting for it."""

    def __init__(self, client: Address, now: float) -> None:
        self.client = client
        self.last_seen = now
        self.transport: asyncio.DatagramTransport | None = None
        self.endpoint: _Endpoint | None = None
        self.pending: list[bytes] = []

    def send(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)


class _Timers:
    """Owned timer handles: each removes itself when it fires; all are cancelled on close."""

    def __init__(self) -> None:
        self._handles: dict[int, asyncio.TimerHandle] = {}
        self._next = 0

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        key, self._next = self._next, self._next + 1
        self._handles[key] = asyncio.get_running_loop().call_later(max(delay, 0.0), self._fire, key, fn)

    def _fire(self, key: int, fn: Callable[[], None]) -> None:
        del self._handles[key]
        fn()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()


class UdpLink(Link):
    """A UDP proxy link (see the module docstring)."""

    protocol = "udp"

    def __init__(self, name: str, listen: Address, target: Address, shape: LinkShape, *,
                 rng: random.Random, clock: Clock | None = None) -> None:
        super().__init__(name, listen, target, shape)
        self.rng = rng
        self.clock: Clock = clock or LoopClock()
        self._tx_free = {"upstream": NEVER, "downstream": NEVER}
        self._sessions: dict[Address, _Session] = {}
        self._timers = _Timers()
        self._tasks = TaskSet()
        self._listener: tuple[asyncio.DatagramTransport, _Endpoint] | None = None
        self._bound: Address = listen

    @property
    def address(self) -> Address:
        return self._bound

    async def async_start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._listener = await loop.create_datagram_endpoint(
                lambda: _Endpoint(self.async_from_client), local_addr=self.listen)
        except OSError as exc:
            raise bind_error(self.name, self.listen, exc) from exc
        self._bound = self._listener[0].get_extra_info("sockname")[:2]
        self._tasks.spawn(self._async_sweep(), name=f"netem-{self.name}-sweep")

    async def async_stop(self) -> None:
        self._timers.cancel_all()
        await self._tasks.close()
        for session in list(self._sessions.values()):
            await self._async_close_session(session)
        if self._listener is not None:
            await _close(*self._listener)
            self._listener = None

    def async_from_client(self, data: bytes, client: Address) -> None:
        """A datagram arrived from ``client``: open its session if new, then shape it upstream."""
        session = self._sessions.get(client)
        if session is None:
            session = self._open_session(client)
        session.last_seen = self.clock.now()
        self._shape_datagram("upstream", data, session.send)

    def async_from_target(self, data: bytes, client: Address) -> None:
        """A reply from the target for ``client``: shape it downstream."""
        session = self._sessions.get(client)
        if session is None or self._listener is None:
            return
        session.last_seen = self.clock.now()
        listener = self._listener[0]
        self._shape_datagram("downstream", data, lambda d: listener.sendto(d, client))

    def _shape_datagram(self, direction: str, data: bytes, send: Callable[[bytes], None]) -> None:
        counters = getattr(self.counters, direction)
        counters.received(len(data))
        if self.shape.blackhole:
            counters.dropped(len(data))
            return
        now = self.clock.now()
        shape = self.shape.upstream if direction == "upstream" else self.shape.downstream
        release = plan_datagram(shape, self.rng, len(data), now, tx_free=self._tx_free[direction])
        if release.dropped is not None:
            counters.dropped(len(data))
            return
        self._tx_free[direction] = release.tx_free
        self._timers.call_later(release.at - now, lambda: self._async_release(direction, data, send))

    def _async_release(self, direction: str, data: bytes, send: Callable[[bytes], None]) -> None:
        counters = getattr(self.counters, direction)
        if self.shape.blackhole:
            counters.dropped(len(data))
            return
        send(data)
        counters.released(len(data))

    def _open_session(self, client: Address) -> _Session:
        session = _Session(client, self.clock.now())
        self._sessions[client] = session
        self.counters.connections_total += 1
        self.counters.connections_active += 1
        self._tasks.spawn(self._async_connect(session), name=f"netem-{self.name}-session")
        return session

    async def _async_connect(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        client = session.client
        try:
            transport, endpoint = await loop.create_datagram_endpoint(
                lambda: _Endpoint(lambda data, _addr: self.async_from_target(data, client)),
                remote_addr=self.target)
        except OSError as exc:
            _LOG.debug("link %s: cannot open a socket to %s: %s", self.name, self.target, exc)
            self.counters.connect_failures += 1
            self._drop_session(session)
            return
        session.transport, session.endpoint = transport, endpoint
        for data in session.pending:
            transport.sendto(data)
        session.pending.clear()

    def _drop_session(self, session: _Session) -> None:
        if self._sessions.pop(session.client, None) is not None:
            self.counters.connections_active -= 1

    async def _async_close_session(self, session: _Session) -> None:
        self._drop_session(session)
        if session.transport is not None and session.endpoint is not None:
            await _close(session.transport, session.endpoint)

    async def _async_sweep(self) -> None:
        while True:
            await self.clock.sleep_until(self.clock.now() + UDP_SWEEP_S)
            idle_before = self.clock.now() - UDP_SESSION_IDLE_S
            for session in [s for s in self._sessions.values() if s.last_seen < idle_before]:
                await self._async_close_session(session)


__all__ = ["UDP_SESSION_IDLE_S", "UDP_SWEEP_S", "UdpLink"]
