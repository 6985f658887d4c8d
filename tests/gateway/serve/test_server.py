"""An in-process inference instance on 127.0.0.1 with the real engine: answers, batching, bad input."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiotwin._exceptions import BundleError
from aiotwin.bundle import default_bundle_dir, load_bundle
from gateway import NoServableVariant, ServePortInUse
from gateway.config import ServiceDelay
from gateway.serve import CT_JPEG, CT_OCTET, CT_PNG, CT_TENSOR, InferenceServer, encode_tensor
from tests.gateway.serve.conftest import EDGE, jpeg, needs_engine, png, running, serve_config

pytestmark = needs_engine
LABELS = set(load_bundle(EDGE).manifest.labels)


async def _post(session: aiohttp.ClientSession, body: bytes, ct: str | None, model: str = "vehicle-edge",
                **headers: str) -> tuple[int, dict]:
    hdrs = {**headers, **({"Content-Type": ct} if ct is not None else {})}
    async with session.post(f"/v1/infer/{model}", data=body, headers=hdrs,
                            skip_auto_headers=["Content-Type"]) as resp:
        return resp.status, json.loads(await resp.read())


def test_every_input_form_is_classified_the_same(crops_bgr):
    crop = crops_bgr[0]
    rgb = np.ascontiguousarray(crop[..., ::-1])

    async def main():
        async with running(serve_config()) as (_, s):
            return [await _post(s, png(crop), CT_PNG), await _post(s, encode_tensor(rgb), CT_TENSOR),
                    await _post(s, rgb.tobytes(), CT_OCTET, **{"X-Tensor-Shape": "64,64,3"}),
                    await _post(s, jpeg(crop), CT_JPEG, model="vehicle")]

    answers = asyncio.run(main())
    assert [status for status, _ in answers] == [200] * 4
    first = answers[0][1]
    assert set(first) == {"labels", "scores", "model", "version", "variant", "node_id", "server_ms"}
    assert (first["model"], first["version"], first["variant"], first["node_id"]) == \
        ("vehicle-edge", load_bundle(default_bundle_dir("edge")).manifest.version, "onnx-fp32", "test-node")
    assert len(first["labels"]) == 3
    assert set(first["labels"]) <= LABELS
    assert first["scores"] == sorted(first["scores"], reverse=True)
    assert first["server_ms"] > 0
    for _, answer in answers[1:3]:  # lossless forms give the same probabilities
        assert answer["labels"] == first["labels"]
        assert answer["scores"] == pytest.approx(first["scores"], abs=1e-5)
    assert answers[3][1]["labels"][0] in LABELS


def test_concurrent_requests_are_batched(crops_bgr):
    config = serve_config(max_batch=8, max_wait_ms=5.0, service_delay=ServiceDelay(ms=20.0))
    bodies = [png(c) for c in crops_bgr] * 4

    async def main():
        async with running(config) as (_, s):
            answers = await asyncio.gather(*(_post(s, b, CT_PNG) for b in bodies))
            async with s.get("/v1/load") as resp:
                return answers, await resp.json()

    answers, load = asyncio.run(main())
    assert all(status == 200 for status, _ in answers)
    assert load["requests"] == len(bodies)
    assert load["batches"] < load["requests"]
    assert load["mean_batch"] > 1
    assert load["server_ms"]["n"] == len(bodies)
    assert load["server_ms"]["p95"] >= load["server_ms"]["p50"] >= 20.0
    assert load["batch_ms"]["p50"] >= 20.0
    assert (load["queue"], load["in_flight"], load["errors"]) == (0, 0, 0)


LIMIT = 10_000  # a PNG crop (~8 kB) fits, a raw 64×64×3 tensor (12 288 B) does not
BAD = [
    ("wrong content type", "text/plain", b"hello", {}, "vehicle-edge", 415),
    ("no content type", None, b"hello", {}, "vehicle-edge", 415),
    ("undecodable png", CT_PNG, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0" + bytes(40), {},
     "vehicle-edge", 400),
    ("undecodable jpeg", CT_JPEG, b"\xff\xd8\xff\xc0\0\x11\x08\0\x10\0\x10\x03" + bytes(60), {}, "vehicle-edge", 400),
    ("wrong tensor shape", CT_TENSOR, encode_tensor(np.zeros((32, 32, 3), np.uint8)), {}, "vehicle-edge", 400),
    ("octet stream without shape", CT_OCTET, bytes(100), {}, "vehicle-edge", 400),
    ("unknown model", CT_PNG, b"x", {}, "person-detector", 404),
    ("body over the limit", CT_OCTET, bytes(64 * 64 * 3), {"X-Tensor-Shape": "64,64,3"}, "vehicle-edge", 413),
    ("missing body", CT_PNG, b"", {}, "vehicle-edge", 400),
]


@pytest.mark.parametrize(("ct", "body", "headers", "model", "status"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gets_a_json_4xx_and_the_instance_keeps_serving(crops_bgr, ct, body, headers, model, status):
    async def main():
        async with running(serve_config(max_body_bytes=LIMIT)) as (_, s):
            bad = await _post(s, body, ct, model, **headers)
            good = await _post(s, png(crops_bgr[1]), CT_PNG)
            async with s.get("/healthz") as resp:
                return bad, good, resp.status

    (code, answer), (good_code, _), health = asyncio.run(main())
    assert code == status
    assert isinstance(answer["error"], str)
    assert answer["error"]
    assert (good_code, health) == (200, 200)


def test_a_bad_crop_in_a_batch_fails_alone(crops_bgr):
    broken = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x02\0\0\0" + bytes(40)

    async def main():
        async with running(serve_config(max_wait_ms=50.0)) as (_, s):
            return await asyncio.gather(_post(s, png(crops_bgr[0]), CT_PNG), _post(s, broken, CT_PNG),
                                        _post(s, png(crops_bgr[1]), CT_PNG))

    codes = [code for code, _ in asyncio.run(main())]
    assert codes == [200, 400, 200]


def test_unknown_routes_and_methods_answer_json():
    async def main():
        async with running(serve_config()) as (_, s), s.get("/nope") as a, s.get("/v1/infer/vehicle") as b:
            return (a.status, await a.json()), (b.status, await b.json())

    (a_code, a), (b_code, b) = asyncio.run(main())
    assert (a_code, b_code) == (404, 405)
    assert "error" in a
    assert "error" in b


def test_health_load_and_metrics(crops_bgr):
    async def main():
        async with running(serve_config()) as (_, s):
            await _post(s, png(crops_bgr[0]), CT_PNG)
            await _post(s, b"x", "text/plain")
            async with s.get("/healthz") as h, s.get("/v1/load") as ld, s.get("/metrics") as m:
                return await h.json(), await ld.json(), await m.text()

    health, load, metrics = asyncio.run(main())
    version = load_bundle(default_bundle_dir("edge")).manifest.version
    assert health == {"status": "ok", "model": "vehicle-edge", "version": version, "variant": "onnx-fp32",
                      "node_id": "test-node"}
    assert (load["requests"], load["errors"], load["batches"]) == (2, 1, 1)
    assert load["max_batch"] == 8
    assert 'aiotwin_gateway_infer_requests_total{code="200"} 1.0' in metrics
    assert 'aiotwin_gateway_infer_requests_total{code="415"} 1.0' in metrics
    assert "aiotwin_gateway_batch_size_count 1.0" in metrics
    assert 'node_id="test-node"' in metrics


def test_shutdown_answers_requests_in_flight(crops_bgr):
    config = serve_config(max_batch=1, service_delay=ServiceDelay(ms=100.0))

    async def main():
        server = InferenceServer(config)
        await server.start()
        try:
            async with aiohttp.ClientSession(base_url=server.url) as s:
                pending = [asyncio.ensure_future(_post(s, png(crops_bgr[0]), CT_PNG)) for _ in range(4)]
                await asyncio.sleep(0.15)
                await server.shutdown()
                return await asyncio.gather(*pending, return_exceptions=True)
        finally:
            await server.shutdown()

    results = asyncio.run(main())
    for r in results:  # answered (200, or 503 once the instance stops) or cut off — never hung
        assert isinstance(r, aiohttp.ClientError) or r[0] in (200, 503)


def test_port_in_use_is_a_typed_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = serve_config(port=taken.getsockname()[1])

        async def main():
            server = InferenceServer(config)
            try:
                await server.start()
            finally:
                await server.shutdown()

        with pytest.raises(ServePortInUse, match="--port 0"):
            asyncio.run(main())


@pytest.mark.parametrize(("overrides", "error"), [
    ({"variant": "tflite-edgetpu"}, NoServableVariant),
    ({"bundle": EDGE.parent / "does-not-exist"}, BundleError),
])
def test_unservable_setups_fail_at_start(overrides, error):
    async def main():
        server = InferenceServer(serve_config(**overrides))
        try:
            await server.start()
        finally:
            await server.shutdown()

    with pytest.raises(error):
        asyncio.run(main())


# --- random bytes with random content types: the instance answers 4xx/200 and keeps serving -----

@pytest.fixture(scope="module")
def live():
    """One server for every hypothesis example, on a loop this fixture drives."""
    loop = asyncio.new_event_loop()
    ctx = running(serve_config(max_body_bytes=64 * 1024))
    try:
        _, session = loop.run_until_complete(ctx.__aenter__())
        try:
            yield loop, session
        finally:
            loop.run_until_complete(ctx.__aexit__(None, None, None))
    finally:
        loop.close()


CONTENT_TYPES = st.one_of(st.none(), st.sampled_from([CT_PNG, CT_JPEG, CT_TENSOR, CT_OCTET, "text/plain",
                                                      "image/gif", "multipart/form-data"]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
BODIES = st.one_of(st.binary(max_size=2048), st.binary(max_size=200).map(lambda b: b"\x89PNG\r\n\x1a\n" + b),
                   st.binary(max_size=200).map(lambda b: b"\xff\xd8\xff" + b),
                   st.binary(max_size=64).map(lambda b: b"ATWT\x01\x01@\0@\0\x03\0" + b))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ct=CONTENT_TYPES, body=BODIES, shape=st.one_of(st.none(), st.just("64,64,3"), st.text(max_size=10)))
def test_random_bodies_get_4xx_or_200_and_the_instance_keeps_serving(live, ct, body, shape):
    loop, session = live
    headers = {"X-Tensor-Shape": shape} if shape is not None and shape.isprintable() and shape.isascii() else {}

    async def main():
        code, answer = await _post(session, body, ct, **headers)
        async with session.get("/healthz") as resp:
            return code, answer, resp.status

    code, answer, health = loop.run_until_complete(main())
    assert code == 200 or 400 <= code < 500, answer
    assert ("labels" in answer) if code == 200 else ("error" in answer)
    assert health == 200
