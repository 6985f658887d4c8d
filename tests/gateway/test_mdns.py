"""mDNS for inference instances: strict TXT parsing (property tests) and a real advertiser + browser
on loopback (python-zeroconf both ends, 127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from aiotwin.bundle import default_bundle_dir, load_bundle
from gateway import TxtRecordError
from gateway.transports.mdns import (
    SERVICE_TYPE,
    Advertiser,
    Browser,
    InferTxt,
    advertised_addresses,
    async_open_zeroconf,
    parse_txt,
    split_txt,
)
from tests.gateway.serve.conftest import needs_engine, serve_config

LOOPBACK = ("127.0.0.1",)
DISCOVERY_TIMEOUT_S = 15.0  # registration probes for ~1.25 s (RFC 6762 §8.1); resolution is immediate


def _txt(**items: str | None) -> bytes:
    out = bytearray()
    for key, value in items.items():
        raw = key.encode() if value is None else f"{key}={value}".encode()
        out += bytes([len(raw)]) + raw
    return bytes(out)


GOOD = {"txtvers": "1", "node": "gw-1", "model": "vehicle-edge", "version": "3", "variant": "onnx-fp32"}


# --- pure TXT parsing ---------------------------------------------------------------------------

def test_a_good_record_parses_and_unknown_keys_are_ignored():
    assert parse_txt(_txt(**GOOD, extra="x", flag=None)) == InferTxt("gw-1", "vehicle-edge", 3, "onnx-fp32")


def test_keys_are_case_insensitive_and_the_first_duplicate_wins():
    raw = _txt(NODE="gw-2", **GOOD)
    assert split_txt(raw)["node"] == b"gw-2"
    assert parse_txt(raw).node_id == "gw-2"


@pytest.mark.parametrize(("raw", "match"), [
    (b"", "missing"),
    (_txt(**{**GOOD, "version": "-1"}), "version"),
    (_txt(**{**GOOD, "version": "1e3"}), "version"),
    (_txt(**{**GOOD, "version": "١"}), "version"),
    (_txt(**{**GOOD, "txtvers": "2"}), "txtvers"),
    (_txt(**{**GOOD, "node": "a b"}), "node"),
    (_txt(**{**GOOD, "node": None}), "no value"),
    (_txt(**{**GOOD, "model": ""}), "model"),
    (_txt(**{**GOOD, "variant": "onnx_fp32!"}), "variant"),
    (_txt(**GOOD)[:-3], "runs past"),
    (b"\x05=abcd" + _txt(**GOOD), "key"),
    (bytes([9]) + b"node=\xff\xfe\xfd\xfc" + _txt(**GOOD), "UTF-8"),
])
def test_malformed_records_are_typed_errors(raw, match):
    with pytest.raises(TxtRecordError, match=match):
        parse_txt(raw)


NODE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", fullmatch=True)
MODEL = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", fullmatch=True)
VARIANT = st.from_regex(r"[a-z0-9-]{1,32}", fullmatch=True)


@given(st.builds(InferTxt, node_id=NODE, model=MODEL, version=st.integers(0, 999_999_999), variant=VARIANT))
def test_encode_parse_round_trip(txt):
    assert parse_txt(txt.encode()) == txt


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_a_txt_error(raw):
    try:
        parse_txt(raw)
    except TxtRecordError:
        pass


ITEM = st.one_of(st.binary(max_size=40),
                 st.tuples(st.sampled_from(["txtvers", "node", "model", "version", "variant", "NODE", "x"]),
                           st.one_of(st.none(), st.text(max_size=20), st.sampled_from(list(GOOD.values()))))
                 .map(lambda kv: kv[0].encode() if kv[1] is None else f"{kv[0]}={kv[1]}".encode()[:255]))


@given(st.lists(ITEM, max_size=8))
def test_structured_garbage_parses_strictly_or_raises_a_txt_error(items):
    raw = b"".join(bytes([len(i[:255])]) + i[:255] for i in items)
    try:
        txt = parse_txt(raw)
    except TxtRecordError:
        return
    assert parse_txt(txt.encode()) == txt


def test_advertised_addresses():
    assert advertised_addresses("10.0.0.5", ()) == ["10.0.0.5"]
    assert advertised_addresses("0.0.0.0", LOOPBACK) == ["127.0.0.1"]
    assert advertised_addresses("0.0.0.0", ())  # this host's addresses (or loopback)


# --- a real advertiser and browser on loopback --------------------------------------------------

@contextlib.asynccontextmanager
async def _zeroconfs(n: int) -> AsyncIterator[list[AsyncZeroconf]]:
    zcs = [async_open_zeroconf(LOOPBACK) for _ in range(n)]
    try:
        yield zcs
    finally:
        for zc in zcs:
            await zc.async_close()


@contextlib.asynccontextmanager
async def _browsing(zc: AsyncZeroconf, changes: list[tuple[str, str]]) -> AsyncIterator[Browser]:
    browser = Browser(zc, on_change=lambda change, inst: changes.append((change, inst.node_id)))
    await browser.async_start()
    try:
        yield browser
    finally:
        await browser.async_stop()


async def _until(browser: Browser, predicate) -> None:
    async with asyncio.timeout(DISCOVERY_TIMEOUT_S):
        await browser.wait_until(predicate)


def test_advertise_browse_rediscover_and_goodbye_on_loopback():
    txt = InferTxt("node-a", "vehicle-edge", 2, "onnx-int8")
    changes: list[tuple[str, str]] = []

    async def main():
        async with _zeroconfs(2) as (responder, client), _browsing(client, changes) as browser:
            first = Advertiser(responder, txt, 18001, ["127.0.0.1"])
            await first.async_start()
            await _until(browser, lambda inst: "node-a" in inst)
            found = browser.instances["node-a"]
            assert (found.txt, found.port, found.addresses) == (txt, 18001, ("127.0.0.1",))
            assert found.url == "http://127.0.0.1:18001"
            # the same node re-appears under another instance name and port: updated, not duplicated
            moved = AsyncServiceInfo(SERVICE_TYPE, f"node-a-moved.{SERVICE_TYPE}", port=18002,
                                     properties=txt.encode(), server="node-a-moved.local.",
                                     parsed_addresses=["127.0.0.1"])
            await (await responder.async_register_service(moved))
            await _until(browser, lambda inst: inst.get("node-a") is not None and inst["node-a"].port == 18002)
            assert list(browser.instances) == ["node-a"]
            await first.async_stop()  # the old name's goodbye must not drop the moved node
            await asyncio.sleep(0.3)
            assert browser.instances["node-a"].port == 18002
            await (await responder.async_unregister_service(moved))
            await _until(browser, lambda inst: "node-a" not in inst)

    asyncio.run(main())
    assert changes == [("added", "node-a"), ("updated", "node-a"), ("removed", "node-a")]


def test_a_malformed_txt_is_ignored():
    async def main():
        async with _zeroconfs(2) as (responder, client), _browsing(client, []) as browser:
            bad = AsyncServiceInfo(SERVICE_TYPE, f"bad.{SERVICE_TYPE}", port=18003,
                                   properties=_txt(**{**GOOD, "node": "bad", "version": "x"}),
                                   server="bad.local.", parsed_addresses=["127.0.0.1"])
            good = Advertiser(responder, InferTxt("good", "m", 1, "onnx-fp32"), 18004, ["127.0.0.1"])
            await (await responder.async_register_service(bad))
            await good.async_start()
            await _until(browser, lambda inst: "good" in inst)
            return dict(browser.instances)

    assert list(asyncio.run(main())) == ["good"]


@needs_engine
def test_a_serving_instance_is_found_with_its_txt_and_removed_after_shutdown():
    from gateway.config import MdnsConfig
    from gateway.serve import InferenceServer

    config = serve_config(node_id="mdns-node", mdns=MdnsConfig(enabled=True, interfaces=LOOPBACK))

    async def main():
        async with _zeroconfs(1) as (client,), _browsing(client, []) as browser:
            server = InferenceServer(config)
            try:
                await server.start()
                await _until(browser, lambda inst: "mdns-node" in inst)
                found = browser.instances["mdns-node"]
            finally:
                await server.shutdown()
            await _until(browser, lambda inst: "mdns-node" not in inst)
            return found, server.port

    found, port = asyncio.run(main())
    version = load_bundle(default_bundle_dir("edge")).manifest.version
    assert found.txt == InferTxt("mdns-node", "vehicle-edge", version, "onnx-fp32")
    assert (found.port, found.addresses) == (port, ("127.0.0.1",))
