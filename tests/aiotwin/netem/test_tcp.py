"""TCP link against a real echo server on loopback. Timing asserts are lower bounds only."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from aiotwin.netem import LinkBindError, LinkEmulator, LinkExists, LinkNotFound, LinkShape
from tests.aiotwin.netem.peers import HOST, close, pattern, round_trip, run, tcp_echo


async def _send_all_and_read_back(address: tuple[str, int], data: bytes) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection(*address)
    start = time.perf_counter()

    async def send() -> None:
        writer.write(data)
        await writer.drain()
        writer.write_eof()

    sender = asyncio.ensure_future(send())
    got = await reader.read()  # until the echo's EOF
    await sender
    elapsed = time.perf_counter() - start
    await close(writer)
    return got, elapsed


def test_added_round_trip_time_is_at_least_the_configured_delay():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator(seed=1) as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target,
                                          LinkShape.from_params(delay_ms=15, downstream={"delay_ms": 5}))
            reader, writer = await asyncio.open_connection(*link.address)
            rtts = [await round_trip(reader, writer) for _ in range(5)]
            await close(writer)
            assert min(rtts) >= 0.020  # 15 ms up + 5 ms down

    run(body())


def test_one_megabyte_arrives_intact_and_in_order_under_jitter_and_loss():
    data = pattern(1024 * 1024)

    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator(seed=2) as emu:
            shape = LinkShape.from_params(distribution="normal", delay_ms=2, sd_ms=2, jitter_ms=2, loss=0.05,
                                          tcp_rto_ms=5)
            link = await emu.add_tcp_link("a", (HOST, 0), target, shape)
            got, _ = await _send_all_and_read_back(link.address, data)
            assert len(got) == len(data)
            assert got == data
            stats = emu.stats("a")
            assert stats.upstream.bytes_in == stats.upstream.bytes_out == len(data)
            assert stats.downstream.bytes_out == len(data)
            assert stats.upstream.retransmits + stats.downstream.retransmits > 0

    run(body())


def test_bandwidth_limit_lower_bounds_the_transfer_time():
    data = pattern(256 * 1024)
    rate = 1_000_000

    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target, LinkShape.from_params(
                upstream={"rate_bytes_s": rate}))
            got, elapsed = await _send_all_and_read_back(link.address, data)
            assert got == data
            assert elapsed >= len(data) / rate

    run(body())


def test_blackhole_stalls_then_recovers_without_losing_bytes():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target)
            reader, writer = await asyncio.open_connection(*link.address)
            await round_trip(reader, writer)
            emu.blackhole("a", True)
            writer.write(b"during")
            await writer.drain()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await reader.readexactly(6)
            emu.blackhole("a", False)
            assert await reader.readexactly(6) == b"during"
            await close(writer)

    run(body())


def test_new_connections_hang_during_blackhole_then_go_through():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target, LinkShape(blackhole=True))
            reader, writer = await asyncio.open_connection(*link.address)  # the kernel accepts...
            writer.write(b"hello")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.15):
                    await reader.readexactly(5)  # ...but nothing flows
            assert emu.stats("a").connections_active == 1
            emu.update("a", blackhole=False)
            assert await reader.readexactly(5) == b"hello"
            await close(writer)

    run(body())


def test_new_connections_are_reset_in_refuse_mode():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target,
                                          LinkShape(blackhole=True, blackhole_connect="refuse"))
            reader, writer = await asyncio.open_connection(*link.address)
            with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                await reader.readexactly(1)
            await close(writer)
            assert emu.stats("a").connections_refused == 1

    run(body())


def test_counters_count_bytes_and_connections():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target)
            for size in (10, 1000):
                reader, writer = await asyncio.open_connection(*link.address)
                await round_trip(reader, writer, size)
                await close(writer)
            stats = emu.stats("a")
            assert stats.upstream.bytes_out == stats.downstream.bytes_out == 1010
            assert stats.upstream.packets_in >= 2
            assert stats.connections_total == 2

    run(body())


def test_unreachable_target_resets_the_client_and_counts_it():
    async def body() -> None:
        async with tcp_echo() as target:
            pass  # the port is closed now
        async with LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target)
            reader, writer = await asyncio.open_connection(*link.address)
            with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                await reader.readexactly(1)
            await close(writer)
            assert emu.stats("a").connect_failures == 1

    run(body())


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_shutdown_closes_every_socket_and_task():
    async def body() -> None:
        async with tcp_echo() as target:
            before = _open_fds()
            emu = LinkEmulator()
            link = await emu.add_tcp_link("a", (HOST, 0), target, LinkShape.from_params(delay_ms=50))
            reader, writer = await asyncio.open_connection(*link.address)
            writer.write(b"in flight")
            await writer.drain()
            await asyncio.sleep(0.01)
            await emu.shutdown()
            assert await reader.read() == b""  # the proxy closed its side
            await close(writer)
            with pytest.raises(OSError):
                await asyncio.open_connection(*link.address)
            assert asyncio.all_tasks() == {asyncio.current_task()}
            assert _open_fds() == before

    run(body())


def test_link_names_and_ports_are_checked():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator() as emu:
            link = await emu.add_tcp_link("a", (HOST, 0), target)
            with pytest.raises(LinkExists):
                await emu.add_tcp_link("a", (HOST, 0), target)
            with pytest.raises(LinkBindError, match="in use"):
                await emu.add_tcp_link("b", link.address, target)
            with pytest.raises(LinkNotFound):
                emu.update("nope", delay_ms=1)

    run(body())
