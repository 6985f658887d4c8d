"""Fixtures for the inference-instance tests: real servers on 127.0.0.1, stopped pass or fail.

Blocking-call guard: every loop a test runs is in asyncio debug mode with
``slow_callback_duration`` = :data:`SLOW_CALLBACK_S`; a callback that holds the loop longer
(a blocking imdecode, inference, file read on the loop) logs an ``Executing … took`` warning,
which the autouse :func:`assert_loop_never_blocked` turns into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import aiohttp
import numpy as np
import pytest

from aiotwin.bundle import MANIFEST, default_bundle_dir
from aiotwin.engines import engine_available
from gateway.config import MdnsConfig, ServeConfig
from gateway.serve import InferenceServer

EDGE = default_bundle_dir("edge")
VARIANT = "onnx-fp32"
# Generous: two shared cores and a training job next door; a real blocking decode + inference of a
# crop still shows up, a sleep-free loop never takes this long.
SLOW_CALLBACK_S = 0.5

needs_engine = pytest.mark.skipif(
    not (EDGE / MANIFEST).is_file() or engine_available(VARIANT) is not None,
    reason=f"no shipped edge bundle or {VARIANT} cannot run here",
)


def serve_config(**overrides: Any) -> ServeConfig:
    """Loopback, free port, no mDNS, the shipped edge bundle."""
    base = ServeConfig(bundle=EDGE, variant=VARIANT, host="127.0.0.1", port=0, node_id="test-node",
                       mdns=MdnsConfig(enabled=False))
    return replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(config: ServeConfig) -> AsyncIterator[tuple[InferenceServer, aiohttp.ClientSession]]:
    """A started server and a client session; both closed however the block ends."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK_S
    server = InferenceServer(config)
    try:
        await server.start()
        async with aiohttp.ClientSession(base_url=server.url) as session:
            yield server, session
    finally:
        await server.shutdown()


@pytest.fixture(autouse=True)
def assert_loop_never_blocked(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="asyncio")
    yield
    slow = [r.getMessage() for r in caplog.get_records("call") if r.name == "asyncio" and "took" in r.getMessage()]
    assert not slow, f"the event loop was blocked: {slow}"


@pytest.fixture(scope="session")
def crops_bgr() -> np.ndarray:
    """Six 64×64 BGR crops rendered by aiotwin.scenes (the pipeline's colour order)."""
    from aiotwin.scenes import crop_dataset

    x, _ = crop_dataset(["downtown"], [1], per_camera=6, size=64)
    return np.ascontiguousarray(x[..., ::-1])


def png(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def jpeg(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()
