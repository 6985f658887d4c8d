"""The offload client: one thread per node that talks to the gateway router; pipelines never wait on it.

Pipelines call :meth:`Offloader.consider` with a privacy-released crop (non-blocking: JPEG encode,
:func:`~device_runtime.offload.policy.decide`, enqueue) and collect finished answers with
:meth:`Offloader.answers` on a later frame. The thread refreshes the router's estimate for this
client (``GET /v1/qos/{client}``) every ``refresh_s`` and sends queued crops
(``POST /v1/infer/{model}``, ``X-Client-Id``, ``X-Deadline-Ms`` = the latency budget). A failed or
late request is dropped (the device keeps its own answer) and counted; the router counts it as a
miss for this client, which is how its estimate learns that offloading does not fit right now.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
import numpy.typing as npt

from device_runtime.offload.policy import Ask, OffloadLimits, QosEstimate, Verdict, decide

_LOG = logging.getLogger("device_runtime.offload")

JPEG_QUALITY = 90
MAX_REPLY_BYTES = 64 * 1024
ANSWER_TIMEOUT_SLACK_S = 0.05  # socket timeout = budget + this: the router enforces the deadline itself

Image = npt.NDArray[np.uint8]


class OffloadReplyError(ValueError):
    """The router's reply is not what the protocol says (kept apart from transport errors)."""


@dataclass(frozen=True)
class OffloadAnswer:
    """The gateway model's answer for one track."""

    camera_id: str
    track_id: int
    scores: dict[str, float]  # label -> score
    model_version: int
    instance: str
    latency_ms: float

    def best(self) -> tuple[str, float]:
        label = max(self.scores, key=self.scores.__getitem__)
        return label, self.scores[label]


@dataclass(frozen=True)
class _Job:
    camera_id: str
    track_id: int
    jpeg: bytes
    queued: float


def parse_qos(body: bytes, fetched_at: float) -> QosEstimate:
    """``GET /v1/qos/{client}`` JSON → :class:`QosEstimate` (``expected_ms: null`` = unknown = inf)."""
    try:
        doc = json.loads(body)
        expected = doc.get("expected_ms")
        return QosEstimate(expected_ms=math.inf if expected is None else float(expected),
                           p_within=float(doc["p_within_tau"]), tau_ms=float(doc["tau_ms"]),
                           fetched_at=fetched_at, observations=int(doc.get("observations", 1)))
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise OffloadReplyError(f"bad /v1/qos reply: {exc}") from exc


def parse_answer(body: bytes, camera_id: str, track_id: int, latency_ms: float) -> OffloadAnswer:
    """``POST /v1/infer/{model}`` JSON (``labels``, ``scores``, ``version``, ``instance``) → answer."""
    try:
        doc = json.loads(body)
        pairs = _scores(doc["labels"], doc["scores"])
        return OffloadAnswer(camera_id, track_id, pairs, int(doc["version"]), str(doc.get("instance", "")),
                             latency_ms)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise OffloadReplyError(f"bad /v1/infer reply: {exc}") from exc


def _scores(labels: Any, scores: Any) -> dict[str, float]:
    if not isinstance(labels, list) or not isinstance(scores, list) or len(labels) != len(scores) or not labels:
        raise ValueError("labels and scores must be equal-length non-empty lists")
    pairs = {str(k): float(v) for k, v in zip(labels, scores, strict=True)}
    if not all(0.0 <= v <= 1.0 for v in pairs.values()):
        raise ValueError("scores must lie in [0, 1]")
    return pairs


class _Http:
    """One keep-alive HTTP/1.1 connection to the router, reopened after any error (offload thread only)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"router URL must be http://HOST[:PORT], got {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                timeout_s: float) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        conn = self._conn
        try:
            conn.timeout = timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(timeout_s)
            conn.request(method, path, body=body, headers=headers)
            reply = conn.getresponse()
            return reply.status, reply.read(MAX_REPLY_BYTES)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Offloader:
    """See the module docstring. ``start``/``stop`` from any thread; ``consider``/``answers`` from pipelines."""

    def __init__(self, router_url: str, client_id: str, model: str, limits: OffloadLimits, *,
                 bytes_available: Callable[[], float] = lambda: math.inf,
                 spend: Callable[[int], bool] = lambda n: True, refresh_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http = _Http(router_url)
        self.client_id = client_id
        self.model = model
        self.limits = limits
        self._bytes_available = bytes_available
        self._spend = spend
        self._refresh_s = refresh_s
        self._clock = clock
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._estimate: QosEstimate | None = None
        self._pending: set[tuple[str, int]] = set()
        self._answered: set[tuple[str, int]] = set()
        self._answers: dict[str, list[OffloadAnswer]] = defaultdict(list)
        self._last_probe = -math.inf
        self.verdicts: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()  # answered, failed, rejected, late
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aiotwin-offload", daemon=True)

    # -- pipeline side -------------------------------------------------------------------------

    @property
    def estimate(self) -> QosEstimate | None:
        with self._lock:
            return self._estimate

    def consider(self, camera_id: str, track_id: int, crop_bgr: Image, confidence: float) -> Verdict:
        """Decide for one crop (already released by the privacy filter) and queue it if it goes."""
        if confidence >= self.limits.threshold:
            return self._count(Verdict.CONFIDENT)
        import cv2

        ok, jpeg = cv2.imencode(".jpg", crop_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ValueError(f"cannot encode a {crop_bgr.shape} crop as JPEG")
        key = (camera_id, track_id)
        now = self._clock()
        with self._lock:
            ask = Ask(confidence=confidence, answered=key in self._pending or key in self._answered,
                      inflight=len(self._pending), crop_bytes=len(jpeg), bytes_available=self._bytes_available(),
                      now=now, last_probe=self._last_probe)
            verdict = decide(ask, self._estimate, self.limits)
            if verdict.offloads and not self._spend(len(jpeg)):
                verdict = Verdict.BYTES  # another camera took the bytes meanwhile
            if verdict.offloads:
                self._pending.add(key)
                if verdict is Verdict.PROBE:
                    self._last_probe = now
        if verdict.offloads:
            self._jobs.put(_Job(camera_id, track_id, jpeg.tobytes(), now))
        return self._count(verdict)

    def update_limits(self, *, threshold: float, budget_ms: float, min_p: float) -> None:
        """Take new knobs (the gateway's ``/cfg``: threshold, tau → budget, rho → min_p)."""
        with self._lock:
            self.limits = replace(self.limits, threshold=threshold, budget_ms=budget_ms, min_p=min_p)

    def answers(self, camera_id: str) -> list[OffloadAnswer]:
        """Answers that arrived for ``camera_id`` since the last call."""
        with self._lock:
            return self._answers.pop(camera_id, [])

    def forget(self, camera_id: str, live_track_ids: Sequence[int]) -> None:
        """Drop the bookkeeping of ``camera_id``'s tracks that ended."""
        live = set(live_track_ids)
        with self._lock:
            self._answered = {k for k in self._answered if k[0] != camera_id or k[1] in live}

    def _count(self, verdict: Verdict) -> Verdict:
        with self._lock:
            self.verdicts[verdict.value] += 1
        return verdict

    # -- thread --------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._http.close()

    def _run(self) -> None:
        next_refresh = 0.0
        while not self._stop.is_set():
            now = self._clock()
            if now >= next_refresh:
                self._refresh()
                next_refresh = self._clock() + self._refresh_s
            try:
                job = self._jobs.get(timeout=max(0.0, next_refresh - self._clock()))
            except queue.Empty:
                continue
            if job is not None:
                self._send(job)

    def _refresh(self) -> None:
        path = f"/v1/qos/{quote(self.client_id, safe='')}"
        try:
            status, body = self._http.request("GET", path, None, {}, self._refresh_s)
        except (OSError, http.client.HTTPException) as exc:
            _LOG.debug("no QoS estimate from the router: %s", exc)
            return
        if status != 200:
            _LOG.debug("no QoS estimate from the router: /v1/qos answered %d", status)
            return
        try:
            estimate = parse_qos(body, self._clock())
        except OffloadReplyError as exc:
            _LOG.warning("%s", exc)
            return
        with self._lock:
            self._estimate = estimate

    def _send(self, job: _Job) -> None:
        key = (job.camera_id, job.track_id)
        budget_s = self.limits.budget_ms / 1000.0
        left_s = budget_s - (self._clock() - job.queued)
        outcome = "late"
        try:
            if left_s <= 0:
                return
            headers = {"Content-Type": "image/jpeg", "X-Client-Id": self.client_id,
                       "X-Deadline-Ms": f"{left_s * 1000.0:.1f}"}
            t0 = self._clock()
            status, body = self._http.request("POST", f"/v1/infer/{quote(self.model, safe='')}", job.jpeg, headers,
                                              left_s + ANSWER_TIMEOUT_SLACK_S)
            latency_ms = (self._clock() - job.queued) * 1000.0
            if status != 200:
                outcome = "rejected"
                _LOG.debug("offload of track %d answered %d: %.200r", job.track_id, status, body)
                return
            answer = parse_answer(body, job.camera_id, job.track_id, latency_ms)
            if (self._clock() - t0) > left_s:
                return  # too late to be of use; the router already counted it against the budget
            outcome = "answered"
            with self._lock:
                self._answers[job.camera_id].append(answer)
                self._answered.add(key)
        except (OSError, http.client.HTTPException, OffloadReplyError) as exc:
            outcome = "failed"
            _LOG.debug("offload of track %d failed: %s", job.track_id, exc)
        finally:
            with self._lock:
                self._pending.discard(key)
                self.outcomes[outcome] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"verdicts": dict(self.verdicts), "outcomes": dict(self.outcomes), "pending": len(self._pending)}


__all__ = ["OffloadAnswer", "OffloadReplyError", "Offloader", "parse_answer", "parse_qos"]
