"""TCP link: a proxy that forwards each accepted connection to the target through the link shape.

Each connection runs two pumps (upstream: client → target, downstream: target → client). A pump's
reader plans every chunk with :func:`aiotwin.netem.delay.plan_chunk` and queues it; its writer
sleeps until the release time and writes. Release times of one stream never decrease, so bytes
stay in order; TCP "loss" is a retransmission-timeout delay, never a dropped or corrupted byte.

The blackhole stalls all connections (reads and writes wait; nothing is lost) and, per
``blackhole_connect``, holds new connections before the target is dialled (``hang``) or resets
them right after accept (``refuse``; the kernel has already completed the handshake, so the
client sees ``ECONNRESET`` on its first read rather than ``ECONNREFUSED`` on connect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from collections import deque
from dataclasses import dataclass

from aiotwin.lifecycle import TaskSet
from aiotwin.netem.delay import NEVER, Release, plan_chunk
from aiotwin.netem.interfaces import Address, Clock, Link, LoopClock, bind_error
from aiotwin.netem.shape import LinkShape
from aiotwin.netem.stats import DirectionCounters

_LOG = logging.getLogger(__name__)

# One read: the unit of loss, counting ("packets") and pacing (64 KiB = the largest TCP segment
# a loopback read returns in practice, and asyncio's default high-water mark order).
CHUNK_BYTES = 64 * 1024
# Bytes a pump may hold in flight before it stops reading (the emulated path's buffer / window:
# 4 MiB is Linux's default tcp_rmem maximum order, so delay × bandwidth products up to that flow).
QUEUE_LIMIT_BYTES = 4 * 1024 * 1024
# Dialling the target (Linux gives up SYN retries after ~127 s; a test bed wants a quick answer).
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class _Chunk:
    at: float
    data: bytes


class _ChunkQueue:
    """FIFO of planned chunks bounded by bytes (a put waits while the limit is reached)."""

    def __init__(self, limit: int) -> None:
        self._items: deque[_Chunk] = deque()
        self._bytes = 0
        self._limit = limit
        self._cond = asyncio.Condition()

    async def put(self, chunk: _Chunk) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._bytes < self._limit)
            self._items.append(chunk)
            self._bytes += len(chunk.data)
            self._cond.notify_all()

    async def get(self) -> _Chunk:
        async with self._cond:
            await self._cond.wait_for(lambda: bool(self._items))
            chunk = self._items.popleft()
            self._bytes -= len(chunk.data)
            self._cond.notify_all()
            return chunk


class _Pump:
    """One direction of one connection."""

    def __init__(self, link: TcpLink, direction: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.link = link
        self.direction = direction
        self.reader = reader
        self.writer = writer
        self.counters: DirectionCounters = getattr(link.counters, direction)
        self.queue = _ChunkQueue(QUEUE_LIMIT_BYTES)

    async def async_read_loop(self) -> None:
        prev = NEVER
        while True:
            await self.link.gate.wait()
            data = await self.reader.read(CHUNK_BYTES)
            if data:
                self.counters.received(len(data))
            release = self.link.plan(self.direction, len(data), prev)
            prev = release.at
            await self.queue.put(_Chunk(release.at, data))
            if not data:
                return

    async def async_write_loop(self) -> None:
        while True:
            chunk = await self.queue.get()
            await self.link.clock.sleep_until(chunk.at)
            await self.link.gate.wait()
            if not chunk.data:
                if self.writer.can_write_eof() and not self.writer.is_closing():
                    self.writer.write_eof()
                return
            self.writer.write(chunk.data)
            await self.writer.drain()
            self.counters.released(len(chunk.data))


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0) so the peer sees a reset, not an orderly end of stream."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpLink(Link):
    """A TCP proxy link (see the module docstring)."""

    protocol = "tcp"

    def __init__(self, name: str, listen: Address, target: Address, shape: LinkShape, *,
                 rng: random.Random, clock: Clock | None = None) -> None:
        super().__init__(name, listen, target, shape)
        self.rng = rng
        self.clock: Clock = clock or LoopClock()
        self.gate = asyncio.Event()
        self._tx_free = {"upstream": NEVER, "downstream": NEVER}
        self._tasks = TaskSet()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._bound: Address = listen
        self.set_shape(shape)

    @property
    def address(self) -> Address:
        return self._bound

    def set_shape(self, shape: LinkShape) -> None:
        super().set_shape(shape)
        if shape.blackhole:
            self.gate.clear()
        else:
            self.gate.set()

    def plan(self, direction: str, size: int, prev_release: float) -> Release:
        """Plan one chunk of ``direction`` with the current shape (shared bandwidth state per direction)."""
        shape = self.shape.upstream if direction == "upstream" else self.shape.downstream
        release = plan_chunk(shape, self.rng, size, self.clock.now(), prev_release=prev_release,
                             tx_free=self._tx_free[direction], rto_ms=self.shape.tcp_rto_ms)
        self._tx_free[direction] = release.tx_free
        getattr(self.counters, direction).retransmits += release.retransmits
        return release

    async def async_start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._async_on_accept, *self.listen)
        except OSError as exc:
            raise bind_error(self.name, self.listen, exc) from exc
        self._bound = self._server.sockets[0].getsockname()[:2]

    async def async_stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._tasks.close()
        for writer in list(self._writers):
            writer.transport.abort()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        self._writers.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _async_on_accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections_total += 1
        if self.shape.blackhole and self.shape.blackhole_connect == "refuse":
            self.counters.connections_refused += 1
            _reset(writer)
            return
        self._writers.add(writer)
        self._tasks.spawn(self._async_serve(reader, writer), name=f"netem-{self.name}-conn")

    async def _async_serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.counters.connections_active += 1
        try:
            await self.gate.wait()  # blackhole_connect = "hang": hold the client before dialling
            target = await self._async_dial()
            if target is None:
                _reset(client_w)
                await self._async_close(client_w)
                return
            self._writers.add(target[1])
            await self._async_relay(client_r, client_w, *target)
        finally:
            self.counters.connections_active -= 1

    async def _async_dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                return await asyncio.open_connection(*self.target)
        except (OSError, TimeoutError) as exc:
            self.counters.connect_failures += 1
            _LOG.debug("link %s: cannot connect to %s: %s", self.name, self.target, exc)
            return None

    async def _async_relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                           target_r: asyncio.StreamReader, target_w: asyncio.StreamWriter) -> None:
        pumps = (_Pump(self, "upstream", client_r, target_w), _Pump(self, "downstream", target_r, client_w))
        try:
            async with asyncio.TaskGroup() as group:
                for pump in pumps:
                    group.create_task(pump.async_read_loop())
                    group.create_task(pump.async_write_loop())
        except* OSError as errors:
            _LOG.debug("link %s: connection ended by %r", self.name, errors.exceptions[0])
            for writer in (client_w, target_w):
                _reset(writer)
        finally:
            await self._async_close(client_w, target_w)

    async def _async_close(self, *writers: asyncio.StreamWriter) -> None:
        for writer in writers:
            self._writers.discard(writer)
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


__all__ = ["CHUNK_BYTES", "CONNECT_TIMEOUT_S", "QUEUE_LIMIT_BYTES", "TcpLink"]
