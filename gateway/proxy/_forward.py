"""The hop itself: choose an instance, forward the body, observe the outcome, retry within the budget.

Every ``choose`` is followed by exactly one ``observe`` (``finally``), whatever happens:

====================================================  =================  =======================
what came back                                        observed as        for outlier ejection
====================================================  =================  =======================
2xx with a JSON object (``ok``)                       send → answer, ms  success
4xx (``rejected``: bad input, unknown model)          send → answer, ms  success (not its fault)
5xx, or a 2xx without a JSON object (``failed``)      ``None`` (a miss)  failure
connection error (``error``)                          ``None`` (a miss)  failure
no answer within the upstream timeout (``timeout``)   ``None`` (a miss)  failure
no answer within the client's deadline (``timeout``)  ``inf`` (a miss)   not counted
====================================================  =================  =======================

A failed attempt is retried on another instance when one exists, the retry policy allows it (budget
≤ ``budget-ratio`` of requests, ``max-attempts``, jittered backoff) and the deadline leaves
:data:`MIN_ATTEMPT_S` after the backoff. ``rejected`` answers are never retried. The session, the
policy, the retry policy and the clock are injected.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from yarl import URL

from gateway._exceptions import DeadlineExceeded, NoInstancesError, RoutedRequestError, UpstreamFailed
from gateway.proxy._registry import InstanceRegistry
from gateway.proxy._wire import classify, with_instance
from gateway.router.policy import Decision, Reason, RoutingPolicy
from gateway.router.retry import RetryPolicy

MIN_ATTEMPT_S = 0.002  # assumed: a retry needs ≥ 2 ms of the deadline left (a loopback round trip + decode)

AttemptKind = Literal["ok", "rejected", "failed", "error", "timeout"]


@dataclass(frozen=True)
class Attempt:
    """One try on one instance. ``status`` is ``None`` when no HTTP answer came back."""

    instance: str
    reason: Reason
    kind: AttemptKind
    status: int | None
    latency_ms: float
    answer: Any = None
    error: str = ""
    deadline_cut: bool = False  # a timeout that the client's deadline (not the upstream timeout) set


@dataclass(frozen=True)
class Routed:
    """A routed request's result: what to answer the client, and every attempt."""

    status: int
    body: dict[str, Any]
    attempts: tuple[Attempt, ...]
    elapsed_ms: float

    @property
    def instance(self) -> str:
        return self.attempts[-1].instance


@dataclass(frozen=True)
class Request:
    """What the client sent: its id, the model path, the body, the headers to forward and its budget."""

    client: str
    model: str
    body: bytes
    headers: Mapping[str, str]
    deadline_ms: float | None = None


AttemptHook = Callable[[str, Attempt, bool], None]  # (client, attempt, is_retry)


class Forwarder:
    """Routes requests through ``policy`` over one pooled ``session``; see the module docstring."""

    def __init__(self, policy: RoutingPolicy, retries: RetryPolicy, registry: InstanceRegistry,
                 session: aiohttp.ClientSession, *, timeout_s: float, clock: Callable[[], float],
                 on_attempt: AttemptHook | None = None) -> None:
        self._policy = policy
        self._retries = retries
        self._registry = registry
        self._session = session
        self._timeout_s = timeout_s
        self._clock = clock
        self._on_attempt = on_attempt

    async def async_route(self, req: Request) -> Routed:
        """Route one request; raise :class:`NoInstancesError` when there is nothing to route to."""
        start = now = self._clock()
        deadline = None if req.deadline_ms is None else start + req.deadline_ms / 1000.0
        backoff = self._retries.new_request(start)
        attempts: list[Attempt] = []
        while True:
            try:
                decision = self._policy.choose(req.client, now, avoid=[a.instance for a in attempts])
            except NoInstancesError:
                if not attempts:
                    raise
                break  # the set emptied while we were retrying: answer with what we have
            attempt = await self._async_attempt(req, decision, deadline)
            attempts.append(attempt)
            if self._on_attempt is not None:
                self._on_attempt(req.client, attempt, len(attempts) > 1)
            if attempt.kind in {"ok", "rejected"} or not self._untried_left(attempts):
                break
            now = self._clock()
            last_start = None if deadline is None else deadline - MIN_ATTEMPT_S
            delay = self._retries.retry_delay(backoff, now, deadline=last_start)
            if delay is None:
                break
            await asyncio.sleep(delay)
            now = self._clock()
        return _result(attempts, (self._clock() - start) * 1000.0)

    def _untried_left(self, attempts: list[Attempt]) -> bool:
        tried = {a.instance for a in attempts}
        return any(u.instance_id not in tried for u in self._registry.upstreams())

    async def _async_attempt(self, req: Request, decision: Decision, deadline: float | None) -> Attempt:
        sent = self._clock()
        limit_s, cut = self._timeout_s, False
        if deadline is not None and deadline - sent < limit_s:
            limit_s, cut = max(0.0, deadline - sent), True
        observed: float | None = math.inf  # if we are cancelled: a miss, not a failure of the instance
        try:
            attempt = await self._async_send(req, decision, limit_s, cut, sent)
            observed = _observation(attempt)
            return attempt
        finally:
            self._policy.observe(req.client, decision.instance, observed, self._clock())

    async def _async_send(self, req: Request, decision: Decision, limit_s: float, cut: bool,
                          sent: float) -> Attempt:
        upstream = self._registry.get(decision.instance)

        def attempt(kind: AttemptKind, status: int | None = None, answer: Any = None, error: str = "") -> Attempt:
            return Attempt(decision.instance, decision.reason, kind, status, (self._clock() - sent) * 1000.0,
                           answer, error, deadline_cut=kind == "timeout" and cut)

        if upstream is None:  # gone from discovery between choose and send
            return attempt("error", error="the instance is no longer known")
        url = URL(upstream.url) / "v1" / "infer" / req.model
        try:
            async with asyncio.timeout(limit_s), self._session.post(
                url, data=req.body, headers=dict(req.headers), skip_auto_headers=("Content-Type",),
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            return attempt("timeout", error=f"no answer within {limit_s * 1000.0:.0f} ms")
        except aiohttp.ClientError as exc:
            return attempt("error", error=str(exc) or type(exc).__name__)
        return _classified(attempt, status, raw)


def _classified(attempt: Callable[..., Attempt], status: int, raw: bytes) -> Attempt:
    """An HTTP answer as an attempt: ``ok`` needs a JSON object; 4xx pass through whatever the body."""
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    body = answer if isinstance(answer, dict) else None
    kind = classify(status)
    if kind == "rejected":
        return attempt("rejected", status, body or {"error": f"HTTP {status} from the instance"})
    if kind == "ok" and body is not None:
        return attempt("ok", status, body)
    why = "a 2xx answer that is not a JSON object" if kind == "ok" else f"HTTP {status}"
    return attempt("failed", status, body, why)


def _observation(attempt: Attempt) -> float | None:
    """What the policy sees (see the table in the module docstring)."""
    if attempt.kind in {"ok", "rejected"}:
        return attempt.latency_ms
    if attempt.deadline_cut:
        return math.inf
    return None


def _result(attempts: list[Attempt], elapsed_ms: float) -> Routed:
    """The last attempt decides: an instance's JSON answer passes through (ok, 4xx, 5xx); else 502/504."""
    last = attempts[-1]
    passes = last.kind in {"ok", "rejected"} or (last.kind == "failed" and last.answer is not None)
    if passes and last.status is not None:
        body = with_instance(last.answer, last.instance)
        if last.kind == "failed":
            body.setdefault("error", last.error)
        return Routed(last.status, body, tuple(attempts), elapsed_ms)
    err = _failure(last, len(attempts))
    return Routed(err.status, {"error": str(err), "instance": last.instance}, tuple(attempts), elapsed_ms)


def _failure(last: Attempt, n: int) -> RoutedRequestError:
    tries = f"{n} attempt{'s' if n > 1 else ''}"
    if last.kind == "timeout":
        why = "the request's X-Deadline-Ms" if last.deadline_cut else "the upstream timeout"
        return DeadlineExceeded(f"instance {last.instance}: {last.error} ({why}; {tries})")
    return UpstreamFailed(f"instance {last.instance} failed: {last.error} ({tries})")


__all__ = ["MIN_ATTEMPT_S", "Attempt", "AttemptHook", "AttemptKind", "Forwarder", "Request", "Routed"]
