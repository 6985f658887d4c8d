"""Discrete-event replay of an arrival trace against a routing policy (pure: seeded rng, virtual time).

Each arrival asks the policy for an instance, draws the end-to-end latency from the instance's
current :class:`Phase` plus the client's RTT to it and a per-request load term, and schedules the
observation when the reply (or the timeout) would arrive, so decisions see only past outcomes and
several requests can be in flight. An instance in a phase with ``service_ms=None`` is down: its
requests fail after ``timeout_ms``. Replies slower than ``timeout_ms`` are failures too.

The result gives per-client satisfaction (fraction within τ over the evaluation period ≥ ρ?), the
overall success fraction, and for a disruptive event at ``event_s`` the dip (worst ``BIN_S`` bin
after it) and the recovery time: the start of the first window of ``HOLD_BINS`` bins whose success
fraction is back within ``TOLERANCE`` (or two binomial standard deviations) of the fraction in the
``BASELINE_S`` before the event.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway._exceptions import NoInstancesError
from gateway.router.config import DEFAULT_RHO, DEFAULT_TAU_MS
from gateway.router.policy import InstanceInfo, Reason, RoutingPolicy

BIN_S = 1.0  # resolution of the recovery measurement
BASELINE_S = 10.0  # pre-event period whose success fraction recovery is measured against
HOLD_BINS = 3  # recovered: the first window of this many bins back at the baseline, ...
TOLERANCE = 0.03  # ... within 3 points of it ...
NOISE_SIGMAS = 2.0  # ... or within 2 binomial standard deviations when the window is small
MIN_SERVICE_MS = 0.1  # a Gaussian draw never makes processing time negative

_MEMBERSHIP, _COMPLETION, _ARRIVAL = 0, 1, 2  # event order at equal times


@dataclass(frozen=True)
class Phase:
    """From ``start_s`` on, processing takes N(service_ms, jitter_ms); ``None``: the instance is down."""

    start_s: float
    service_ms: float | None
    jitter_ms: float = 0.0


@dataclass(frozen=True)
class InstanceModel:
    """One instance's behaviour over time; ``ms_per_in_flight`` slows it down under concurrency."""

    instance_id: str
    phases: tuple[Phase, ...]
    ms_per_in_flight: float = 0.0

    def phase_at(self, t: float) -> Phase:
        current = self.phases[0]
        for phase in self.phases:
            if phase.start_s <= t:
                current = phase
        return current


@dataclass(frozen=True)
class Arrival:
    t: float
    client: str


@dataclass(frozen=True)
class Membership:
    """At ``t`` the router learns that exactly ``instances`` exist (discovery, not health)."""

    t: float
    instances: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs; ``rtt_ms`` maps (client, instance) to the network RTT."""

    clients: tuple[str, ...]
    instances: tuple[InstanceModel, ...]
    arrivals: tuple[Arrival, ...]
    membership: tuple[Membership, ...] = ()
    rtt_ms: Mapping[tuple[str, str], float] = field(default_factory=dict)
    timeout_ms: float = 2 * DEFAULT_TAU_MS
    tau_ms: float = DEFAULT_TAU_MS
    rho: float = DEFAULT_RHO
    warmup_s: float = 0.0
    event_s: float | None = None


@dataclass(frozen=True)
class Record:
    """One request: when it arrived, where it went, what came back (``None``: failure)."""

    t: float
    client: str
    instance: str | None
    reason: Reason | None
    latency_ms: float | None


@dataclass(frozen=True)
class ClientResult:
    client: str
    requests: int
    within_tau: int
    fraction: float
    satisfied: bool


@dataclass(frozen=True)
class SimResult:
    policy: str
    clients: tuple[ClientResult, ...]
    satisfied_fraction: float
    success_fraction: float
    dip: float | None
    recovery_s: float | None
    load: Mapping[str, int]
    reasons: Mapping[str, int]
    records: tuple[Record, ...]


@dataclass(frozen=True)
class _Done:
    client: str
    instance: str
    latency_ms: float | None


_Event = Membership | _Done | Arrival


class _Run:
    """Mutable state of one simulation."""

    def __init__(self, policy: RoutingPolicy, scenario: Scenario, rng: random.Random) -> None:
        self.policy = policy
        self.sc = scenario
        self.rng = rng
        self.models = {m.instance_id: m for m in scenario.instances}
        self.in_flight: Counter[str] = Counter()
        self.records: list[Record] = []
        self.events: list[tuple[float, int, int, _Event]] = []
        self._seq = 0

    def push(self, t: float, kind: int, payload: _Event) -> None:
        self._seq += 1
        heapq.heappush(self.events, (t, kind, self._seq, payload))

    def infos(self, ids: tuple[str, ...]) -> list[InstanceInfo]:
        rtts = self.sc.rtt_ms
        return [InstanceInfo(i, client_rtt_ms={c: rtts[(c, i)] for c in self.sc.clients if (c, i) in rtts})
                for i in ids]

    def latency(self, client: str, instance: str, t: float) -> float | None:
        model = self.models[instance]
        phase = model.phase_at(t)
        if phase.service_ms is None:
            return None
        service = max(MIN_SERVICE_MS, self.rng.gauss(phase.service_ms, phase.jitter_ms))
        load_ms = model.ms_per_in_flight * self.in_flight[instance]
        total = self.sc.rtt_ms.get((client, instance), 0.0) + service + load_ms
        return total if total <= self.sc.timeout_ms else None

    def arrive(self, t: float, client: str) -> None:
        try:
            decision = self.policy.choose(client, t)
        except NoInstancesError:
            self.records.append(Record(t, client, None, None, None))
            return
        latency = self.latency(client, decision.instance, t)
        self.in_flight[decision.instance] += 1
        done = t + (self.sc.timeout_ms if latency is None else latency) / 1000.0
        self.records.append(Record(t, client, decision.instance, decision.reason, latency))
        self.push(done, _COMPLETION, _Done(client, decision.instance, latency))

    def run(self) -> None:
        members = self.sc.membership or (Membership(0.0, tuple(self.models)),)
        for m in members:
            self.push(m.t, _MEMBERSHIP, m)
        for a in self.sc.arrivals:
            self.push(a.t, _ARRIVAL, a)
        while self.events:
            t, _, _, event = heapq.heappop(self.events)
            self.dispatch(t, event)

    def dispatch(self, t: float, event: _Event) -> None:
        if isinstance(event, Membership):
            self.policy.set_instances(self.infos(event.instances), t)
        elif isinstance(event, _Done):
            self.in_flight[event.instance] -= 1
            self.policy.observe(event.client, event.instance, event.latency_ms, t)
        else:
            self.arrive(t, event.client)


def simulate(policy: RoutingPolicy, scenario: Scenario, rng: random.Random) -> SimResult:
    """Replay ``scenario`` against ``policy``; deterministic for a given ``rng`` seed."""
    run = _Run(policy, scenario, rng)
    run.run()
    return summarise(policy.name, scenario, run.records)


def _ok(rec: Record, tau_ms: float) -> bool:
    return rec.latency_ms is not None and rec.latency_ms <= tau_ms


def summarise(policy: str, scenario: Scenario, records: list[Record]) -> SimResult:
    """Per-client satisfaction after warm-up, overall success, dip and recovery around the event."""
    evaluated = [r for r in records if r.t >= scenario.warmup_s]
    clients = tuple(_client_result(c, [r for r in evaluated if r.client == c], scenario) for c in scenario.clients)
    active = [c for c in clients if c.requests]
    dip, recovery = _recovery(records, scenario)
    return SimResult(
        policy=policy,
        clients=clients,
        satisfied_fraction=sum(c.satisfied for c in active) / len(active) if active else math.nan,
        success_fraction=sum(_ok(r, scenario.tau_ms) for r in evaluated) / len(evaluated) if evaluated else math.nan,
        dip=dip,
        recovery_s=recovery,
        load=Counter(r.instance for r in evaluated if r.instance is not None),
        reasons=Counter(r.reason for r in evaluated if r.reason is not None),
        records=tuple(records),
    )


def _client_result(client: str, recs: list[Record], scenario: Scenario) -> ClientResult:
    within = sum(_ok(r, scenario.tau_ms) for r in recs)
    fraction = within / len(recs) if recs else math.nan
    return ClientResult(client, len(recs), within, fraction, bool(recs) and fraction >= scenario.rho)


def _bins(records: list[Record], start: float, tau_ms: float) -> tuple[list[int], list[int]]:
    """(requests within τ, requests) per BIN_S bin from ``start``."""
    hits: Counter[int] = Counter()
    totals: Counter[int] = Counter()
    for r in records:
        if r.t >= start:
            k = int((r.t - start) // BIN_S)
            totals[k] += 1
            hits[k] += _ok(r, tau_ms)
    size = max(totals, default=-1) + 1
    return [hits[k] for k in range(size)], [totals[k] for k in range(size)]


def _recovery(records: list[Record], sc: Scenario) -> tuple[float | None, float | None]:
    """(worst bin after the event, start of the first HOLD_BINS-long window back at the baseline)."""
    if sc.event_s is None:
        return None, None
    before = [r for r in records if sc.event_s - BASELINE_S <= r.t < sc.event_s]
    if not before:
        return None, None
    baseline = sum(_ok(r, sc.tau_ms) for r in before) / len(before)
    hits, totals = _bins(records, sc.event_s, sc.tau_ms)
    dip = min((h / n for h, n in zip(hits, totals, strict=True) if n), default=None)
    for k in range(len(totals) - HOLD_BINS + 1):
        h, n = sum(hits[k:k + HOLD_BINS]), sum(totals[k:k + HOLD_BINS])
        noise = NOISE_SIGMAS * math.sqrt(baseline * (1.0 - baseline) / n) if n else 0.0
        if n and h / n >= baseline - max(TOLERANCE, noise):
            return dip, k * BIN_S
    return dip, None


__all__ = [
    "BASELINE_S",
    "BIN_S",
    "HOLD_BINS",
    "MIN_SERVICE_MS",
    "NOISE_SIGMAS",
    "TOLERANCE",
    "Arrival",
    "ClientResult",
    "InstanceModel",
    "Membership",
    "Phase",
    "Record",
    "Scenario",
    "SimResult",
    "simulate",
    "summarise",
]
