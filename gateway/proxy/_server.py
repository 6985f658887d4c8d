"""The router daemon: policy + instance registry + pooled HTTP client + HTTP site + mDNS browser.

Lifecycle (STYLE rule 12, driven by :func:`aiotwin.lifecycle.run_daemon`):

``start()``
    installs the static instances in the policy, opens the client session (one connection pool for
    every instance), binds the HTTP site (port 0: a free port), logs ``routing on http://HOST:PORT``,
    then browses ``_aiotwin-infer._tcp`` by mDNS (unless disabled). ``run_daemon`` logs ``ready``.
``shutdown()``
    stops browsing, lets in-flight requests finish (:data:`~gateway.proxy._http.SHUTDOWN_TIMEOUT_S`),
    closes the session and logs a summary. Safe after a failed or partial ``start()``.

Every ``now`` the policy sees is the injected monotonic ``clock``; the policy's randomness is one
``random.Random(config.seed)``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from aiotwin.exitcodes import ExitCode
from aiotwin.lifecycle import TaskSet, run_daemon
from gateway._exceptions import RouterError, RouterPortInUse
from gateway._web import async_listen, http_url
from gateway.proxy._forward import Attempt, Forwarder, Request, Routed
from gateway.proxy._http import SHUTDOWN_TIMEOUT_S, build_app
from gateway.proxy._metrics import RouterMetrics
from gateway.proxy._registry import InstanceRegistry
from gateway.proxy._wire import finite
from gateway.router.config import RouterConfig
from gateway.router.factory import make_policy
from gateway.router.policy import ClientView, PolicySnapshot, RoutingPolicy
from gateway.router.retry import RetryPolicy

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncZeroconf

    from gateway.transports.mdns import Browser, Change, DiscoveredInstance

_LOG = logging.getLogger("gateway.proxy")

NAME = "aiotwin-gateway router"
SUMMARY_INTERVAL_S = 60.0  # one INFO line about the last minute's traffic (only when there was some)
EJECTION_CHECK_S = 0.25  # ejections are looked for (and logged) at most this often, on failures only


@dataclass
class _Tally:
    """Counts since the last summary line."""

    requests: int = 0
    misses: int = 0
    retries: int = 0
    failures: int = 0

    def line(self, what: str) -> str:
        share = f" ({100.0 * self.misses / self.requests:.1f} %)" if self.requests else ""
        return (f"{what}: {self.requests} requests, {self.misses} misses{share}, {self.retries} retries, "
                f"{self.failures} failed attempts")


class RouterServer:
    """See the module docstring. Every method except :meth:`render_metrics` runs on the event loop."""

    def __init__(self, config: RouterConfig, *, policy: str | None = None,
                 session: aiohttp.ClientSession | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.policy: RoutingPolicy = make_policy(config, random.Random(config.seed), name=policy)
        self._retries = RetryPolicy(config.retry, random.Random(None if config.seed is None else config.seed + 1))
        self.registry = InstanceRegistry(config.instances)
        self.metrics = RouterMetrics(config)
        self._session = session
        self._own_session = session is None
        self._forwarder: Forwarder | None = None
        self._tasks = TaskSet()
        self._runner: web.AppRunner | None = None
        self._zeroconf: AsyncZeroconf | None = None
        self._browser: Browser | None = None
        self._serving = False
        self._recent = _Tally()
        self._total = _Tally()
        self._ejected: frozenset[str] = frozenset()
        self._last_error: dict[str, str] = {}
        self._ejection_check: asyncio.TimerHandle | None = None
        self._next_ejection_check = -math.inf
        self.port = config.http.port

    @property
    def url(self) -> str:
        return http_url(self.config.http.host, self.port)

    async def start(self) -> None:
        http = self.config.http
        self.policy.set_instances(self.registry.infos(), self._clock())
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=http.max_connections))
        self._forwarder = Forwarder(self.policy, self._retries, self.registry, self._session,
                                    timeout_s=http.timeout_ms / 1000.0, clock=self._clock,
                                    on_attempt=self._async_on_attempt)
        app = build_app(self, max_body_bytes=http.max_body_bytes)
        self._runner, self.port = await async_listen(app, http.host, http.port, shutdown_timeout_s=SHUTDOWN_TIMEOUT_S,
                                                     in_use=RouterPortInUse, failed=RouterError)
        static = ", ".join(f"{u.instance_id}={u.url}" for u in self.registry.upstreams()) or "none"
        _LOG.info("policy %s, τ %g ms, ρ %g; static instances: %s", self.policy.name, self.config.qos.tau_ms,
                  self.config.qos.rho, static)
        _LOG.info("routing on %s", self.url)
        if self.config.mdns.enabled:
            await self._async_browse()
        self._tasks.spawn(self._summarise(), name="router-summary")
        self._serving = True

    async def _async_browse(self) -> None:
        from gateway.transports import mdns

        self._zeroconf = mdns.async_open_zeroconf(self.config.mdns.interfaces)
        self._browser = mdns.Browser(self._zeroconf, on_change=self._async_on_discovery)
        await self._browser.async_start()
        _LOG.info("browsing %s by mDNS", mdns.SERVICE_TYPE)

    def _async_on_discovery(self, change: Change, found: DiscoveredInstance) -> None:
        if change == "removed":
            changed = self.registry.remove_mdns(found.node_id)
        else:
            changed = self.registry.upsert_mdns(found.node_id, found.url)
        if changed:
            self.policy.set_instances(self.registry.infos(), self._clock())
            _LOG.info("instance %s %s at %s (mDNS); %d routable", found.node_id, change, found.url,
                      len(self.registry))

    async def shutdown(self) -> None:
        self._serving = False
        from aiotwin.discovery import async_stop_all  # zeroconf only when the server ran

        await async_stop_all(self._browser, self._zeroconf)
        self._browser, self._zeroconf = None, None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._tasks.close()
        if self._ejection_check is not None:
            self._ejection_check.cancel()
            self._ejection_check = None
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None
        _LOG.info("%s", self._total.line("routed in total"))

    async def _summarise(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_INTERVAL_S)
            if self._recent.requests:
                _LOG.info("%s; %s", self._recent.line(f"last {SUMMARY_INTERVAL_S:g} s"), self._health_line())
            self._recent = _Tally()

    def _health_line(self) -> str:
        ejected = self.policy.snapshot().ejected
        return f"{len(self.registry) - len(ejected)} healthy, {len(ejected)} ejected instance(s)"

    # --- RouterCore: what the HTTP handlers call ----------------------------------------------

    async def async_route(self, req: Request) -> Routed:
        if self._forwarder is None:
            raise RouterError("the router is not started")
        routed = await self._forwarder.async_route(req)
        if _LOG.isEnabledFor(logging.DEBUG):
            tries = ", ".join(f"{a.instance}:{a.reason}:{a.kind}:{a.latency_ms:.1f}ms" for a in routed.attempts)
            _LOG.debug("client %s model %s → %s HTTP %d in %.1f ms [%s]", req.client, req.model, routed.instance,
                       routed.status, routed.elapsed_ms, tries)
        return routed

    def _async_on_attempt(self, client: str, attempt: Attempt, retry: bool) -> None:
        self.metrics.observe_attempt(client, attempt, retry)
        failed = attempt.kind in {"failed", "error", "timeout"}
        for tally in (self._recent, self._total):
            tally.retries += retry
            tally.failures += failed
        if failed:
            self._last_error[attempt.instance] = attempt.error
            _LOG.debug("attempt on %s failed: %s", attempt.instance, attempt.error)
        if (failed or attempt.instance in self._ejected) and self._ejection_check is None:
            # Only then can the ejected set have changed. Checking takes a policy snapshot, so it runs
            # at most every EJECTION_CHECK_S (a failure storm must not take one per failure).
            delay = max(0.0, self._next_ejection_check - self._clock())
            self._ejection_check = asyncio.get_running_loop().call_later(delay, self._async_check_ejections)

    def _async_check_ejections(self) -> None:
        self._ejection_check = None
        self._next_ejection_check = self._clock() + EJECTION_CHECK_S
        ejected = frozenset(self.policy.snapshot().ejected)
        for instance in sorted(ejected - self._ejected):
            _LOG.warning("instance %s ejected after consecutive failures (last: %s)", instance,
                         self._last_error.get(instance, "?"))
        for instance in sorted(self._ejected - ejected):
            _LOG.info("instance %s is back in rotation", instance)
        self._ejected = ejected

    def async_record(self, client: str, status: int, elapsed_ms: float) -> None:
        self.metrics.observe_request(client, status, elapsed_ms, self._clock())
        miss = not (400 <= status < 500) and not (200 <= status < 300
                                                   and elapsed_ms <= self.config.qos_for(client).tau_ms)
        for tally in (self._recent, self._total):
            tally.requests += 1
            tally.misses += miss

    def async_qos(self, client: str) -> dict[str, Any]:
        now = self._clock()
        est = self.policy.estimate(client, now)
        qos = self.config.qos_for(client)
        satisfaction = self.metrics.qos.satisfaction(client, now)
        return {
            "client": client, "policy": self.policy.name, "tau_ms": est.tau_ms, "rho": qos.rho,
            "expected_ms": finite(est.expected_ms), "p_within_tau": est.p_within_tau,
            "meets_rho": est.samples > 0 and est.p_within_tau >= qos.rho, "pool": list(est.pool),
            "pool_size": len(est.pool), "eps": est.eps, "observations": est.samples,
            "satisfaction": finite(satisfaction), "instances": len(self.registry),
            "window": {"max_samples": qos.window.max_samples, "max_age_s": qos.window.max_age_s},
        }

    def async_instances(self) -> dict[str, Any]:
        snap = self.policy.snapshot()
        return {"policy": self.policy.name, "instances": [
            {"id": u.instance_id, "url": u.url, "source": u.source, "rtt_ms": u.rtt_ms,
             "state": "ejected" if u.instance_id in snap.ejected else "healthy",
             "in_flight": snap.in_flight.get(u.instance_id), "estimates": _estimates(snap, u.instance_id)}
            for u in self.registry.upstreams()
        ]}

    def async_health(self) -> tuple[bool, dict[str, Any]]:
        ejected = self.policy.snapshot().ejected
        body = {"status": "ok" if self._serving else "stopping", "policy": self.policy.name,
                "instances": len(self.registry), "healthy": len(self.registry) - len(ejected)}
        return self._serving, body

    def async_refresh_metrics(self) -> None:
        self.metrics.async_refresh(self.policy.snapshot(), self.registry.upstreams(), self._retries.budget.tokens,
                                   self._clock())

    def render_metrics(self) -> bytes:
        """Prometheus text (blocking: the HTTP handler calls it from a thread)."""
        return self.metrics.render()


def _estimates(snap: PolicySnapshot, instance: str) -> dict[str, Any]:
    """Per client: what the policy estimates for ``instance`` (QEdgeProxy; baselines keep none)."""
    return {view.client: _view(view, instance) for view in snap.clients
            if any(iv.instance == instance for iv in view.instances)}


def _view(view: ClientView, instance: str) -> dict[str, Any]:
    iv = next(iv for iv in view.instances if iv.instance == instance)
    return {"samples": iv.samples, "p_within_tau": iv.p_within_tau, "expected_ms": finite(iv.expected_ms),
            "in_pool": iv.in_pool, "weight": iv.weight, "stale": iv.stale}


def sync_main(config: RouterConfig, *, policy: str | None = None) -> ExitCode:
    """Route until SIGTERM/SIGINT; return the exit code (0 after a SIGTERM shutdown)."""
    return asyncio.run(run_daemon(RouterServer(config, policy=policy), name=NAME, logger=_LOG))


__all__ = ["EJECTION_CHECK_S", "NAME", "SUMMARY_INTERVAL_S", "RouterServer", "sync_main"]
