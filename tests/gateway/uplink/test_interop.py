"""Interop with libcoap's ``coap-client`` (Debian libcoap3-bin): discovery, POST, observe."""

from __future__ import annotations

import asyncio
import json

import pytest

from aiotwin.wire import DeviceDirectives, decode_directives, encode_event
from tests.gateway.uplink.conftest import coap_client_binary, count_event, serving

COAP_CLIENT = coap_client_binary()
pytestmark = pytest.mark.skipif(COAP_CLIENT is None, reason="libcoap's coap-client is not installed "
                                "(apt-get install libcoap3-bin; scripts/apt_test_deps.sh does it as root)")
CLIENT_TIMEOUT_S = 20.0


async def _coap_client(*args: str) -> tuple[int, str, str]:
    assert COAP_CLIENT is not None
    proc = await asyncio.create_subprocess_exec(COAP_CLIENT, *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


def test_coap_client_discovers_posts_and_observes(tmp_path):
    first, second = DeviceDirectives(gateway="gw-1"), DeviceDirectives(gateway="gw-1", tau_ms=99.0)

    async def main():
        async with serving(tmp_path / "gw.sqlite3", directives=first) as (server, _):
            wkc = await _coap_client("-m", "get", f"{server.url}/.well-known/core")
            posted = await _coap_client("-m", "post", "-t", "json", "-e", encode_event(count_event(5)).decode(),
                                        f"{server.url}/events")
            bad = await _coap_client("-m", "post", "-t", "json", "-e", "[{}]", f"{server.url}/events")

            async def update_later() -> None:
                await asyncio.sleep(1.0)
                server.set_directives(second)

            updater = asyncio.create_task(update_later())
            observed = await _coap_client("-m", "get", "-s", "3", f"{server.url}/cfg")
            await updater
            return wkc, posted, bad, observed, await asyncio.to_thread(server.store.ids)

    wkc, posted, bad, observed, ids = asyncio.run(main())
    assert wkc[0] == 0 and "</events>" in wkc[1] and "</cfg>" in wkc[1] and "obs" in wkc[1]
    assert posted[0] == 0 and '"accepted":["ev-000005"]' in posted[1]
    assert "4.00" in bad[1] + bad[2]
    assert ids == ["ev-000005"]
    documents = [decode_directives(json.dumps(doc).encode()) for doc in _json_documents(observed[1])]
    assert documents[0] == first and documents[-1] == second, observed


def _json_documents(text: str) -> list[object]:
    """coap-client prints each notification's payload back to back, without separators."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while (at := text.find("{", at)) >= 0:
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
    return docs
