"""Real loopback peers for the link tests: a TCP echo server, a UDP echo/sink, and small helpers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
HOST = "127.0.0.1"
TEST_TIMEOUT_S = 15.0  # per in-process test body: a hang fails fast instead of waiting for pytest-timeout


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(TEST_TIMEOUT_S):
            return await coro

    return asyncio.run(bounded())


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tcp_echo() -> AsyncIterator[tuple[str, int]]:
    server = await asyncio.start_server(_echo, HOST, 0)
    try:
        yield HOST, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


class UdpPeer(asyncio.DatagramProtocol):
    """Counts datagrams; echoes them back when ``echo`` is set."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.arrived = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)
        self.arrived.set()
        if self.echo and self.transport is not None:
            self.transport.sendto(data, addr)


@contextlib.asynccontextmanager
async def udp_peer(echo: bool = True, remote: tuple[str, int] | None = None) -> AsyncIterator[UdpPeer]:
    loop = asyncio.get_running_loop()
    kwargs: dict[str, Any] = {"remote_addr": remote} if remote else {"local_addr": (HOST, 0)}
    transport, peer = await loop.create_datagram_endpoint(lambda: UdpPeer(echo), **kwargs)
    try:
        yield peer
    finally:
        transport.close()
        await asyncio.sleep(0)


def udp_address(peer: UdpPeer) -> tuple[str, int]:
    assert peer.transport is not None
    host, port = peer.transport.get_extra_info("sockname")[:2]
    return host, port


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int = 64) -> float:
    start = time.perf_counter()
    writer.write(b"p" * size)
    await writer.drain()
    await reader.readexactly(size)
    return time.perf_counter() - start


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def pattern(size: int) -> bytes:
    """Bytes whose every 4-byte word is its own index: a reorder or a gap shows at once."""
    return b"".join(i.to_bytes(4, "big") for i in range(size // 4))
