"""UDP link against real loopback peers."""

from __future__ import annotations

import asyncio
import time

from aiotwin.netem import LinkEmulator, LinkShape
from tests.aiotwin.netem.peers import HOST, run, udp_address, udp_peer

N_DATAGRAMS = 1000


async def _send(peer, count: int, size: int = 32) -> None:
    assert peer.transport is not None
    for i in range(count):
        peer.transport.sendto(i.to_bytes(4, "big") * (size // 4))
        await asyncio.sleep(0)  # asyncio reads one datagram per socket per loop turn: pace to avoid kernel drops


async def _settle(condition, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def test_loss_statistics_match_the_configured_probability():
    async def body() -> None:
        async with udp_peer(echo=False) as sink, LinkEmulator(seed=5) as emu:
            link = await emu.add_udp_link("u", (HOST, 0), udp_address(sink), LinkShape.from_params(
                upstream={"loss": 0.3}))
            async with udp_peer(echo=False, remote=link.address) as client:
                await _send(client, N_DATAGRAMS)
                await _settle(lambda: emu.stats("u").upstream.packets_in == N_DATAGRAMS)
                stats = emu.stats("u").upstream
                await _settle(lambda: len(sink.received) == N_DATAGRAMS - stats.dropped_packets)
            assert 230 <= stats.dropped_packets <= 370  # binomial(1000, 0.3): ±5 sigma
            assert stats.packets_out == len(sink.received)

    run(body())


def test_replies_come_back_delayed_through_one_session():
    async def body() -> None:
        async with udp_peer(echo=True) as target, LinkEmulator() as emu:
            link = await emu.add_udp_link("u", (HOST, 0), udp_address(target), LinkShape.from_params(
                delay_ms=10, downstream={"delay_ms": 20}))
            async with udp_peer(echo=False, remote=link.address) as client:
                start = time.perf_counter()
                await _send(client, 3)
                await _settle(lambda: len(client.received) == 3)
                assert time.perf_counter() - start >= 0.030
            assert sorted(client.received) == sorted(target.received)
            stats = emu.stats("u")
            assert stats.connections_total == 1  # one client address, one upstream socket
            assert stats.downstream.bytes_out == 3 * 32

    run(body())


def test_blackhole_drops_everything_until_switched_off():
    async def body() -> None:
        async with udp_peer(echo=True) as target, LinkEmulator() as emu:
            link = await emu.add_udp_link("u", (HOST, 0), udp_address(target), LinkShape(blackhole=True))
            async with udp_peer(echo=False, remote=link.address) as client:
                await _send(client, 5)
                await _settle(lambda: emu.stats("u").upstream.dropped_packets == 5)
                assert target.received == []
                emu.blackhole("u", False)
                await _send(client, 2)
                await _settle(lambda: len(client.received) == 2)

    run(body())


def test_bandwidth_limit_tail_drops_a_flood():
    async def body() -> None:
        async with udp_peer(echo=False) as sink, LinkEmulator() as emu:
            # 10 kB/s with a 1 s queue: of 200 datagrams × 500 B (100 kB) roughly 10 kB fit.
            link = await emu.add_udp_link("u", (HOST, 0), udp_address(sink), LinkShape.from_params(
                rate_bytes_s=10_000))
            async with udp_peer(echo=False, remote=link.address) as client:
                await _send(client, 200, size=500)
                await _settle(lambda: emu.stats("u").upstream.packets_in == 200)
            stats = emu.stats("u").upstream
            assert 150 <= stats.dropped_packets <= 185

    run(body())
