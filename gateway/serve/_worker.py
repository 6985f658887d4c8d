"""The inference worker: one dedicated thread decodes crops, runs the engine and applies the delay.

Nothing here runs on the event loop except the ``async_`` methods, which only hand work to the
thread (STYLE rule 10). The thread is a one-worker :class:`ThreadPoolExecutor`, so batches run one
after another in arrival order. A bad crop fails only its own request: its outcome is a
:class:`~gateway._exceptions.MalformedInput`, and the rest of the batch still runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aiotwin.bundle import Bundle
from aiotwin.engines import Engine, open_engine
from aiotwin.netem.delay import sample_latency_s
from gateway._exceptions import InferRequestError, MalformedInput
from gateway.config import ServiceDelay
from gateway.serve._codec import EncodedImage, Payload, U8Image
from gateway.serve._model import ServedModel, choose_variant, model_aliases, resolve_bundle

_LOG = logging.getLogger(__name__)

THREAD_NAME = "aiotwin-infer"


@dataclass(frozen=True)
class Prediction:
    """Top-k labels and their probabilities for one crop."""

    labels: tuple[str, ...]
    scores: tuple[float, ...]


Outcome = Prediction | InferRequestError
EngineOpener = Callable[[Bundle, str, int], Engine]


@dataclass(frozen=True)
class BatchResult:
    """One batch's per-request outcomes (in order) and its service time in the worker thread."""

    outcomes: list[Outcome]
    service_s: float


def _open(bundle: Bundle, variant: str, threads: int) -> Engine:
    return open_engine(bundle, variant, threads=threads)


def decode_image(image: EncodedImage) -> U8Image:
    """BGR ``uint8`` pixels of a JPEG/PNG crop (worker thread only: decoding is CPU work)."""
    import cv2

    try:
        pixels = cv2.imdecode(np.frombuffer(image.data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise MalformedInput(f"undecodable {image.kind} image: {exc}") from exc
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise MalformedInput(f"undecodable {image.kind} image")
    return np.asarray(pixels, dtype=np.uint8)


def _warm_up(engine: Engine, height: int, width: int) -> None:
    """First-call costs (OpenCV import, runtime allocations) are paid at start, not by a request."""
    import cv2  # noqa: F401 - imported for its side effect: loaded before the first request

    engine.classify(np.zeros((1, height, width, 3), dtype=np.uint8))


def top_k(probs: np.ndarray, labels: Sequence[str], k: int) -> Prediction:
    order = np.argsort(-probs, kind="stable")[:k]
    return Prediction(tuple(labels[i] for i in order), tuple(round(float(probs[i]), 6) for i in order))


class InferenceWorker:
    """Owns the engine and the one thread that runs it; see the module docstring."""

    def __init__(self, bundle: Path | None, variant: str | None, *, threads: int, top: int,
                 delay: ServiceDelay, aliases: Sequence[str] = (), opener: EngineOpener = _open) -> None:
        self._request = (bundle, variant, tuple(aliases))
        self._threads = threads
        self._top = top
        self._delay = delay
        self._delay_shape = delay.shape()
        self._rng = random.Random(delay.seed)
        self._opener = opener
        self._stop = threading.Event()  # ends an added service delay early at shutdown
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self.model: ServedModel | None = None

    async def async_start(self) -> ServedModel:
        """Start the thread, then load the bundle and open the engine on it."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)
        loop = asyncio.get_running_loop()
        self.model = await loop.run_in_executor(self._executor, self._load)
        return self.model

    def _load(self) -> ServedModel:
        path, requested, extra = self._request
        bundle = resolve_bundle(path)
        variant = choose_variant(bundle, requested)
        self._engine = self._opener(bundle, variant, self._threads)
        m = bundle.manifest
        _warm_up(self._engine, m.input.height, m.input.width)
        return ServedModel(m.name, m.version, variant, self._engine.provider, m.labels, m.input,
                           model_aliases(bundle, extra), bundle.path)

    async def async_run(self, payloads: list[Payload]) -> BatchResult:
        """Run one batch on the worker thread."""
        if self._executor is None:
            raise RuntimeError("worker not started")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.run_batch, payloads)

    def run_batch(self, payloads: Sequence[Payload]) -> BatchResult:
        """Worker thread: decode, classify the valid crops together, wait the added delay."""
        started = time.perf_counter()
        engine, model = self._loaded()
        crops, outcomes = self._prepare(payloads, model)
        if crops:
            probs = engine.classify(np.stack([c for _, c in crops]))
            for (i, _), row in zip(crops, probs, strict=True):
                outcomes[i] = top_k(row, model.labels, self._top)
        if self._delay.enabled:
            self._stop.wait(sample_latency_s(self._delay_shape, self._rng))
        done = [o if o is not None else MalformedInput("crop was not classified") for o in outcomes]
        return BatchResult(done, time.perf_counter() - started)

    def _loaded(self) -> tuple[Engine, ServedModel]:
        if self._engine is None or self.model is None:
            raise RuntimeError("worker not started")
        return self._engine, self.model

    @staticmethod
    def _prepare(payloads: Sequence[Payload], model: ServedModel
                 ) -> tuple[list[tuple[int, U8Image]], list[Outcome | None]]:
        from aiotwin.models.preprocess import resize_crops

        outcomes: list[Outcome | None] = [None] * len(payloads)
        tensors: list[tuple[int, U8Image]] = []
        decoded: list[tuple[int, U8Image]] = []
        for i, payload in enumerate(payloads):
            if not isinstance(payload, EncodedImage):
                tensors.append((i, payload.array))
                continue
            try:
                decoded.append((i, decode_image(payload)))
            except MalformedInput as exc:
                outcomes[i] = exc
        if decoded:
            resized = resize_crops([img for _, img in decoded], model.input, bgr=True)
            tensors += [(i, resized[n]) for n, (i, _) in enumerate(decoded)]
        return sorted(tensors, key=lambda t: t[0]), outcomes

    async def async_close(self) -> None:
        """Finish the running batch, close the engine on its thread, and join the thread."""
        self._stop.set()
        executor, self._executor = self._executor, None
        if executor is None:
            return
        if self._engine is not None:
            await asyncio.get_running_loop().run_in_executor(executor, self._engine.close)
            self._engine = None
        executor.shutdown(wait=True)  # idle by now: the close job above ran after every batch


__all__ = [
    "THREAD_NAME", "BatchResult", "EngineOpener", "InferenceWorker", "Outcome", "Prediction", "decode_image",
    "top_k",
]
