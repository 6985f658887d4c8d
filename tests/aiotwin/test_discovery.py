"""Shared mDNS bits: the gateway TXT record (strict parser, hypothesis fuzz) and a real
advertiser + browser for ``_aiotwin-gw._udp`` on loopback."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotwin import TxtMalformed
from aiotwin.discovery import (
    GW_SERVICE_TYPE,
    FoundGateway,
    GatewayTxt,
    ServiceAdvertiser,
    async_open_zeroconf,
    encode_txt,
    gateway_browser,
    parse_gateway_txt,
    pick_gateway,
)

GOOD = {"txtvers": "1", "node": "gw-1", "coap": "5683", "proto": "1"}
DISCOVERY_TIMEOUT_S = 15.0


def _txt(**items: str | None) -> bytes:
    out = bytearray()
    for key, value in items.items():
        raw = key.encode() if value is None else f"{key}={value}".encode()
        out += bytes([len(raw)]) + raw
    return bytes(out)


def test_a_good_record_parses_case_insensitively_and_ignores_unknown_keys():
    assert parse_gateway_txt(_txt(**GOOD, extra="x", flag=None)) == GatewayTxt("gw-1", 5683, 1)
    assert parse_gateway_txt(_txt(NODE="gw-2", **GOOD)).node_id == "gw-2"  # the first duplicate wins


@pytest.mark.parametrize(("raw", "match"), [
    (b"", "missing"),
    (_txt(**{**GOOD, "coap": "0"}), "coap"),
    (_txt(**{**GOOD, "coap": "65536"}), "coap"),
    (_txt(**{**GOOD, "coap": "+80"}), "coap"),
    (_txt(**{**GOOD, "coap": "٨٠"}), "coap"),
    (_txt(**{**GOOD, "proto": "x"}), "proto"),
    (_txt(**{**GOOD, "txtvers": "2"}), "txtvers"),
    (_txt(**{**GOOD, "node": "gw.1"}), "node"),
    (_txt(**{**GOOD, "node": None}), "no value"),
    (_txt(**GOOD)[:-2], "runs past"),
    (b"\x05=abcd" + _txt(**GOOD), "key"),
    (b"\x00" * 9000, "exceeds"),
])
def test_malformed_records_are_typed_errors(raw, match):
    with pytest.raises(TxtMalformed, match=match):
        parse_gateway_txt(raw)


NODE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", fullmatch=True)


@given(st.builds(GatewayTxt, node_id=NODE, coap_port=st.integers(1, 65535), protocol=st.integers(0, 9999)))
def test_encode_parse_round_trip(txt):
    assert parse_gateway_txt(txt.encode()) == txt


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_txt_malformed(raw):
    try:
        parse_gateway_txt(raw)
    except TxtMalformed:
        pass


ITEM = st.one_of(
    st.binary(max_size=40),
    st.tuples(st.sampled_from(["txtvers", "node", "coap", "proto", "COAP", "x"]),
              st.one_of(st.none(), st.text(max_size=12), st.sampled_from(list(GOOD.values())),
                        st.integers(-5, 70000).map(str)))
    .map(lambda kv: kv[0].encode() if kv[1] is None else f"{kv[0]}={kv[1]}".encode()[:255]),
)


@given(st.lists(ITEM, max_size=8))
def test_structured_garbage_parses_strictly_or_raises(items):
    raw = b"".join(bytes([len(i[:255])]) + i[:255] for i in items)
    try:
        txt = parse_gateway_txt(raw)
    except TxtMalformed:
        return
    assert 0 < txt.coap_port <= 65535
    assert parse_gateway_txt(txt.encode()) == txt


def test_an_item_longer_than_255_bytes_cannot_be_encoded():
    with pytest.raises(TxtMalformed, match="255"):
        encode_txt({"node": "x" * 300})


def _found(node: str) -> FoundGateway:
    return FoundGateway(GatewayTxt(node, 5683, 1), ("10.0.0.1",), 5683, f"{node}.{GW_SERVICE_TYPE}")


def test_pick_gateway_prefers_the_named_node_else_the_smallest_id():
    found = {"gw-b": _found("gw-b"), "gw-a": _found("gw-a")}
    assert pick_gateway(found, "gw-b") == found["gw-b"]
    assert pick_gateway(found, "gw-z") == found["gw-a"]
    assert pick_gateway({}) is None
    assert found["gw-a"].uri == "coap://10.0.0.1:5683"


def test_advertise_browse_and_goodbye_on_loopback():
    async def main():
        responder, client = async_open_zeroconf(["127.0.0.1"]), async_open_zeroconf(["127.0.0.1"])
        browser = gateway_browser(client)
        adv = ServiceAdvertiser(responder, GW_SERVICE_TYPE, "gw-loop", txt=GatewayTxt("gw-loop", 5999, 1).encode(),
                                port=5999, addresses=["127.0.0.1"])
        try:
            await browser.async_start()
            await adv.async_start()
            async with asyncio.timeout(DISCOVERY_TIMEOUT_S):
                await browser.wait_until(lambda found: "gw-loop" in found)
            found = browser.instances["gw-loop"]
            await adv.async_stop()
            async with asyncio.timeout(DISCOVERY_TIMEOUT_S):
                await browser.wait_until(lambda found: "gw-loop" not in found)
            return found
        finally:
            await browser.async_stop()
            await adv.async_stop()
            await responder.async_close()
            await client.async_close()

    found = asyncio.run(main())
    assert found.uri == "coap://127.0.0.1:5999" and found.txt == GatewayTxt("gw-loop", 5999, 1)
