"""The HTTP control API on loopback, driven by a real aiohttp client."""

from __future__ import annotations

import asyncio

import aiohttp

from aiotwin.netem import LinkEmulator
from tests.aiotwin.netem.peers import HOST, close, round_trip, run, tcp_echo


def test_put_changes_behaviour_at_run_time_and_metrics_count_bytes():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator(control=(HOST, 0)) as emu, aiohttp.ClientSession() as http:
            assert emu.control_url is not None
            link = await emu.add_tcp_link("a", (HOST, 0), target)
            reader, writer = await asyncio.open_connection(*link.address)
            assert await round_trip(reader, writer) < 1.0
            async with http.put(f"{emu.control_url}/links/a", json={"upstream": {"delay_ms": 40}}) as resp:
                assert resp.status == 200
                doc = await resp.json()
            assert doc["shape"]["upstream"]["delay_ms"] == 40
            assert doc["shape"]["downstream"]["delay_ms"] == 0
            assert await round_trip(reader, writer) >= 0.040  # the open connection feels it at once
            await close(writer)
            async with http.get(f"{emu.control_url}/metrics") as resp:
                metrics = await resp.json()
            assert metrics["links"]["a"]["upstream"]["bytes_out"] == 128
            assert metrics["links"]["a"]["downstream"]["bytes_out"] == 128

    run(body())


def test_list_get_and_blackhole_endpoints():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator(control=(HOST, 0)) as emu, aiohttp.ClientSession() as http:
            await emu.add_tcp_link("b", (HOST, 0), target)
            await emu.add_tcp_link("a", (HOST, 0), target)
            async with http.get(f"{emu.control_url}/links") as resp:
                assert [ln["name"] for ln in (await resp.json())["links"]] == ["a", "b"]
            async with http.get(f"{emu.control_url}/links/a") as resp:
                doc = await resp.json()
            assert doc["protocol"] == "tcp"
            assert doc["target"] == f"{target[0]}:{target[1]}"
            async with http.post(f"{emu.control_url}/links/a/blackhole", json={"on": True}) as resp:
                assert resp.status == 200
            assert emu.link("a").shape.blackhole
            async with http.post(f"{emu.control_url}/links/a/blackhole", json={"on": False}) as resp:
                assert (await resp.json())["shape"]["blackhole"] is False

    run(body())


def test_malformed_requests_get_a_json_400_and_unknown_links_404():
    async def body() -> None:
        async with tcp_echo() as target, LinkEmulator(control=(HOST, 0)) as emu, aiohttp.ClientSession() as http:
            await emu.add_tcp_link("a", (HOST, 0), target)
            url = f"{emu.control_url}/links/a"
            for payload, field in [(b"{not json", None), (b'{"loss": 7}', "upstream.loss"),
                                   (b'{"jitter": 1}', "jitter"), (b'{"delay_ms": true}', "delay_ms")]:
                async with http.put(url, data=payload) as resp:
                    assert resp.status == 400
                    doc = await resp.json()
                assert doc["error"]
                if field:
                    assert field in [p["field"] for p in doc["problems"]]
            assert emu.link("a").shape.upstream.loss == 0  # nothing applied
            async with http.post(f"{url}/blackhole", data=b'{"on": "yes"}') as resp:
                assert resp.status == 400
            async with http.put(f"{emu.control_url}/links/zz", json={}) as resp:
                assert resp.status == 404
                assert "zz" in (await resp.json())["error"]

    run(body())
