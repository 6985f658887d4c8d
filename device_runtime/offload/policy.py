"""Joint inference: should this unsure crop go to the gateway's bigger model? Pure, no I/O.

The device always has its own answer. A crop is offloaded through the gateway router only when

1. the edge model is unsure (its confidence is below ``threshold``), and the track has not had an
   offload answer yet (one good answer per vehicle is enough);
2. the router has a *fresh* estimate for this client (``GET /v1/qos/{client}``), and that estimate
   fits the device's latency budget: expected latency ≤ ``budget_ms`` and, when the router's τ is
   within the budget, P(latency ≤ τ) ≥ ``min_p``. An estimate only changes with traffic, so when
   the router has no observations of this client yet, or its estimate says "does not fit", one
   *probe* offload every ``probe_every_s`` still goes (the device's ε-exploration: without it a
   single slow reply would stop offloading for good);
3. fewer than ``max_inflight`` offloads are outstanding (a slow uplink must not pile up work); and
4. the upstream byte budget can pay for the crop (events come first: the budget is asked after them).

Otherwise the device keeps its own answer, and — when it was unsure but could not ask — stores the
crop as a training sample (:attr:`Verdict.keeps_sample`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    """The outcome of :func:`decide`; every value but ``OFFLOAD`` is a reason to keep the edge answer."""

    OFFLOAD = "offload"
    PROBE = "probe"  # an exploratory offload: no observations yet, or the estimate does not fit
    CONFIDENT = "confident"
    ANSWERED = "already-answered"
    NO_ESTIMATE = "no-estimate"
    STALE = "stale-estimate"
    TOO_SLOW = "over-latency-budget"
    UNLIKELY = "qos-unlikely"
    BUSY = "too-many-inflight"
    BYTES = "byte-budget"

    @property
    def keeps_sample(self) -> bool:
        """The edge model was unsure and nobody better was asked: keep the crop to learn from."""
        return self not in {Verdict.OFFLOAD, Verdict.PROBE, Verdict.CONFIDENT, Verdict.ANSWERED}

    @property
    def offloads(self) -> bool:
        return self in {Verdict.OFFLOAD, Verdict.PROBE}


@dataclass(frozen=True)
class QosEstimate:
    """The router's view of this client (``GET /v1/qos/{client}``), stamped when it was fetched."""

    expected_ms: float  # expected end-to-end latency through the router (inf: unknown or failing)
    p_within: float  # P(latency <= tau_ms), in [0, 1]
    tau_ms: float
    fetched_at: float  # monotonic seconds
    observations: int = 1  # latencies the router has seen for this client

    def __post_init__(self) -> None:
        if not (self.expected_ms >= 0 and 0.0 <= self.p_within <= 1.0 and self.tau_ms > 0
                and self.observations >= 0):
            raise ValueError(f"bad QoS estimate {self}")


@dataclass(frozen=True)
class OffloadLimits:
    """The knobs of :func:`decide` (from ``[offload]`` of the device config and the gateway's ``/cfg``)."""

    threshold: float = 0.6  # offload when the edge confidence is below this
    budget_ms: float = 80.0  # the answer must come back within this
    min_p: float = 0.95  # required P(latency <= tau) when tau <= budget
    max_age_s: float = 10.0  # an estimate older than this is not trusted
    max_inflight: int = 4
    probe_every_s: float = 5.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.threshold <= 1.0 and self.budget_ms > 0 and 0.0 <= self.min_p <= 1.0
                and self.max_age_s > 0 and self.max_inflight >= 1 and self.probe_every_s > 0):
            raise ValueError(f"bad offload limits {self}")


@dataclass(frozen=True)
class Ask:
    """One crop's situation at decision time."""

    confidence: float
    answered: bool  # the track already has an offload answer (or one is in flight)
    inflight: int
    crop_bytes: int
    bytes_available: float  # what the upstream byte budget can still pay now
    now: float  # monotonic seconds
    last_probe: float = float("-inf")  # monotonic seconds of the last probe offload


def decide(ask: Ask, estimate: QosEstimate | None, limits: OffloadLimits) -> Verdict:
    """See the module docstring; the checks run in that order, the first that fails is the verdict."""
    if ask.confidence >= limits.threshold:
        return Verdict.CONFIDENT
    if ask.answered:
        return Verdict.ANSWERED
    if estimate is None:
        return Verdict.NO_ESTIMATE
    if ask.now - estimate.fetched_at > limits.max_age_s:
        return Verdict.STALE
    if estimate.observations == 0:
        verdict = Verdict.NO_ESTIMATE
    elif estimate.expected_ms > limits.budget_ms:
        verdict = Verdict.TOO_SLOW
    elif estimate.tau_ms <= limits.budget_ms and estimate.p_within < limits.min_p:
        verdict = Verdict.UNLIKELY
    else:
        return _spendable(ask, limits, Verdict.OFFLOAD)
    if ask.now - ask.last_probe >= limits.probe_every_s:
        probe = _spendable(ask, limits, Verdict.PROBE)
        return probe if probe is Verdict.PROBE else verdict
    return verdict


def _spendable(ask: Ask, limits: OffloadLimits, verdict: Verdict) -> Verdict:
    """``verdict`` when it is an offload the in-flight limit and the byte budget allow."""
    if not verdict.offloads:
        return verdict
    if ask.inflight >= limits.max_inflight:
        return Verdict.BUSY
    if ask.crop_bytes > ask.bytes_available:
        return Verdict.BYTES
    return verdict


__all__ = ["Ask", "OffloadLimits", "QosEstimate", "Verdict", "decide"]
