"""The uplink server against a real aiocoap client on 127.0.0.1: events, duplicates, refusals, /cfg."""

from __future__ import annotations

import asyncio
import json
import logging

import aiocoap
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiotwin.wire import MAX_BATCH_BYTES, DeviceDirectives, decode_directives, encode_event, encode_event_batch
from gateway.uplink import UplinkServer
from tests.gateway.uplink.conftest import (
    LOOPBACK,
    REQUEST_TIMEOUT_S,
    LoopThread,
    count_event,
    health_event,
    post,
    request,
    serving,
)

CHANGED, BAD_REQUEST = aiocoap.CHANGED, aiocoap.BAD_REQUEST


def _receipt(resp: aiocoap.Message) -> dict:
    assert resp.code == CHANGED, (resp.code, resp.payload)
    return json.loads(resp.payload)


def test_a_batch_is_stored_and_acknowledged_with_its_ids(tmp_path):
    events = [count_event(i) for i in range(40)] + [health_event(1)]  # ~12 KB: Block1 on the way up

    async def main():
        async with serving(tmp_path / "ev.sqlite3") as (server, client):
            resp = await post(client, server.url, encode_event_batch(events) , uri_query=("node=cam-node-1",))
            return _receipt(resp), await asyncio.to_thread(server.store.ids), server.stats()

    receipt, ids, stats = asyncio.run(main())
    assert receipt == {"v": 1, "accepted": [e.id for e in events], "stored": 41, "duplicates": 0}
    assert ids == [e.id for e in events]
    assert (stats.batches, stats.events_stored) == (1, 41)


def test_one_event_object_is_a_batch_of_one_and_a_resend_is_stored_once(tmp_path):
    async def main():
        async with serving(tmp_path / "ev.sqlite3") as (server, client):
            first = _receipt(await post(client, server.url, encode_event(count_event(7))))
            again = _receipt(await post(client, server.url, encode_event_batch([count_event(7), count_event(8)])))
            return first, again, await asyncio.to_thread(server.store.ids)

    first, again, ids = asyncio.run(main())
    assert (first["stored"], first["duplicates"]) == (1, 0)
    assert again["accepted"] == ["ev-000008", "ev-000007"] and (again["stored"], again["duplicates"]) == (1, 1)
    assert ids == ["ev-000007", "ev-000008"]


@pytest.mark.parametrize(("payload", "diagnostic"), [
    (b"", "not valid JSON"),
    (b"[]", "empty"),
    (b"{\"v\": 1}", "kind"),
    (b"[1]", "event [0]"),
    (encode_event_batch([count_event(1)]).replace(b'"v":1', b'"v":99'), "protocol version"),
    (encode_event_batch([count_event(1), count_event(2)]).replace(b'"confidence":0.9', b'"confidence":7', 1),
     "event [0]"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[" * 100_000, "larger than"),
])
def test_a_malformed_batch_is_refused_with_a_diagnostic_and_nothing_is_stored(tmp_path, payload, diagnostic):
    async def main():
        async with serving(tmp_path / "ev.sqlite3") as (server, client):
            resp = await post(client, server.url, payload)
            return resp, await asyncio.to_thread(server.store.count)

    resp, rows = asyncio.run(main())
    expected = aiocoap.REQUEST_ENTITY_TOO_LARGE if len(payload) > MAX_BATCH_BYTES else BAD_REQUEST
    assert resp.code == expected
    assert diagnostic in resp.payload.decode()
    assert rows == 0


def test_oversize_is_4_13_with_size1_and_other_formats_4_15(tmp_path):
    async def main():
        async with serving(tmp_path / "ev.sqlite3", max_batch_bytes=4096) as (server, client):
            big = encode_event_batch([count_event(i) for i in range(30)])
            too_large = await post(client, server.url, big)
            cbor = await post(client, server.url, b"\xa0", content_format=aiocoap.numbers.ContentFormat.CBOR)
            get = await request(client, aiocoap.GET, f"{server.url}/events")
            return too_large, cbor, get, await asyncio.to_thread(server.store.count), server.stats()

    too_large, cbor, get, rows, stats = asyncio.run(main())
    assert too_large.code == aiocoap.REQUEST_ENTITY_TOO_LARGE and too_large.opt.size1 == 4096
    assert cbor.code == aiocoap.UNSUPPORTED_CONTENT_FORMAT
    assert get.code == aiocoap.METHOD_NOT_ALLOWED
    assert rows == 0 and stats.too_large >= 1 and stats.unsupported_format == 1


def test_well_known_core_lists_events_and_observable_cfg(tmp_path):
    async def main():
        async with serving(tmp_path / "ev.sqlite3") as (server, client):
            return await request(client, aiocoap.GET, f"{server.url}/.well-known/core")

    links = asyncio.run(main()).payload.decode()
    assert '</events>;ct="50";rt="aiotwin.events"' in links
    assert '</cfg>;ct="50";rt="aiotwin.cfg";obs' in links


def test_cfg_observe_delivers_an_update_and_unchanged_directives_notify_nobody(tmp_path):
    initial = DeviceDirectives(gateway="gw-1", tau_ms=80.0)
    updated = DeviceDirectives(gateway="gw-1", tau_ms=120.0, rho=0.9, model_version=4, offload_threshold=0.5,
                               byte_budget_per_h=1000)

    async def main():
        async with serving(tmp_path / "ev.sqlite3", directives=initial) as (server, client):
            req = client.request(aiocoap.Message(code=aiocoap.GET, uri=f"{server.url}/cfg", observe=0))
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                first = await req.response
            assert not server.set_directives(initial)  # same document: no notification
            assert server.set_directives(updated)
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                notification = await anext(aiter(req.observation))
            req.observation.cancel()
            return first, notification, server.stats()

    first, notification, stats = asyncio.run(main())
    assert decode_directives(first.payload) == initial and first.opt.observe is not None
    assert first.opt.max_age == 60
    assert decode_directives(notification.payload) == updated
    assert stats.observers_notified == 1


def test_a_directives_provider_is_reread_on_demand(tmp_path):
    current = [DeviceDirectives(rho=0.9)]

    async def main():
        async with serving(tmp_path / "ev.sqlite3", directives=lambda: current[0]) as (server, client):
            before = await request(client, aiocoap.GET, f"{server.url}/cfg")
            current[0] = DeviceDirectives(rho=0.5)
            assert server.directives_changed()
            after = await request(client, aiocoap.GET, f"{server.url}/cfg")
            return before, after

    before, after = asyncio.run(main())
    assert decode_directives(before.payload).rho == 0.9 and decode_directives(after.payload).rho == 0.5


def test_a_store_in_use_fails_start_cleanly(tmp_path):
    async def main():
        async with serving(tmp_path / "ev.sqlite3"):
            second = UplinkServer(tmp_path / "ev.sqlite3", host=LOOPBACK, port=0)
            try:
                await second.start()
            finally:
                await second.close()

    from gateway import UplinkStoreError

    with pytest.raises(UplinkStoreError, match="in use"):
        asyncio.run(main())


@pytest.fixture
def loop_server(tmp_path):
    srv = LoopThread(tmp_path / "fuzz.sqlite3")
    try:
        yield srv
    finally:
        srv.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(
    st.binary(max_size=3000),
    st.lists(st.one_of(st.integers(), st.text(max_size=10), st.none(),
                       st.dictionaries(st.sampled_from(["v", "kind", "id", "camera_id", "x"]),
                                       st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=5)),
             max_size=6).map(lambda v: json.dumps(v).encode()),
))
def test_fuzzed_payloads_are_refused_and_the_server_survives(loop_server, payload, caplog):
    caplog.set_level(logging.ERROR)
    client = loop_server.client
    resp = loop_server.run(post(client, loop_server.server.url, payload))
    assert resp.code == BAD_REQUEST, (payload, resp.code, resp.payload)
    assert resp.payload  # a diagnostic
    assert loop_server.run(asyncio.to_thread(loop_server.server.store.count)) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_after_fuzzing_a_valid_event_still_goes_through(loop_server):
    client = loop_server.client
    for junk in (b"\x00" * 10, b"[[[[", b'{"kind": []}', b"[" + b"1," * 500 + b"1]"):
        assert loop_server.run(post(client, loop_server.server.url, junk)).code == BAD_REQUEST
    ok = loop_server.run(post(client, loop_server.server.url, encode_event(count_event(1))))
    assert ok.code == CHANGED
