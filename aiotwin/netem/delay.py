"""Pure release-time planning: shape + rng + chunk size + state → when the chunk leaves the link.

No I/O and no clock here: callers pass ``now`` and keep the returned state. Times are seconds on
the caller's clock; shape parameters are milliseconds.

Order of one chunk through a direction (and of the rng draws, which fixes determinism by seed):

1. **loss** — UDP: the datagram is dropped with probability ``loss`` (it uses no bandwidth).
   TCP never drops or corrupts bytes: a "lost" chunk is delivered after a retransmission timeout
   instead. Each chunk draws repeatedly: with probability ``loss`` it pays one more RTO, doubling
   each time (RFC 6298 §5.5 backoff), at most :data:`MAX_RETRANSMITS` times.
2. **bandwidth** — a token bucket per link direction, shared by all streams of the link. The chunk
   occupies the serializer for ``size / rate`` seconds after the previous chunk (``tx_free``);
   ``burst_bytes`` of idle credit pass without pacing. UDP tail-drops a datagram that would wait
   longer than :data:`UDP_QUEUE_LIMIT_S` (a router buffer).
3. **latency** — one sample of the delay distribution plus uniform jitter, clamped to
   ``[0, MAX_DELAY_MS]``.
4. **ordering** (TCP only) — a chunk is released no earlier than the previous chunk of its stream,
   so jitter never reorders bytes. UDP datagrams may overtake each other, as on a real path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from aiotwin.netem.shape import MAX_DELAY_MS, DirectionShape

# Cap on emulated consecutive retransmissions of one TCP chunk (Linux tcp_retries1 = 3 triggers
# route re-validation; beyond ~6 doublings a real stack's RTO is tens of seconds): keeps loss=1 finite.
MAX_RETRANSMITS = 6
# A datagram that would queue longer than this behind the bandwidth limit is tail-dropped
# (order of a home-router buffer; "bufferbloat" measurements see 0.1–1 s).
UDP_QUEUE_LIMIT_S = 1.0
_MS = 1e-3
NEVER = -math.inf


@dataclass(frozen=True)
class Release:
    """The plan for one chunk: when it leaves, the new serializer state, and whether it was dropped."""

    at: float
    tx_free: float
    dropped: str | None = None
    retransmits: int = 0


def sample_latency_s(shape: DirectionShape, rng: random.Random) -> float:
    """One latency sample in seconds: the distribution, plus jitter, clamped to [0, MAX_DELAY_MS]."""
    if shape.distribution == "normal":
        base = rng.gauss(shape.delay_ms, shape.sd_ms) if shape.sd_ms > 0 else shape.delay_ms
    elif shape.distribution == "pareto":
        base = shape.delay_ms * rng.paretovariate(shape.pareto_shape)
    else:
        base = shape.delay_ms
    if shape.jitter_ms > 0:
        base += rng.uniform(-shape.jitter_ms, shape.jitter_ms)
    return min(max(base, 0.0), MAX_DELAY_MS) * _MS


def pace(shape: DirectionShape, size: int, now: float, tx_free: float) -> tuple[float, float]:
    """Token bucket: ``(time the last byte is serialized, new tx_free)``; unlimited rate → ``now``."""
    if shape.rate_bytes_s <= 0:
        return now, tx_free
    credit_s = shape.burst_bytes / shape.rate_bytes_s
    end = max(now - credit_s, tx_free) + size / shape.rate_bytes_s
    return max(now, end), end


def count_retransmits(loss: float, rng: random.Random) -> int:
    """How many times in a row a TCP chunk is "lost" (geometric, capped at MAX_RETRANSMITS)."""
    if loss <= 0:
        return 0
    n = 0
    while n < MAX_RETRANSMITS and rng.random() < loss:
        n += 1
    return n


def rto_penalty_s(rto_ms: float, retransmits: int) -> float:
    """Extra delay of ``retransmits`` back-to-back timeouts with doubling: RTO·(2ⁿ − 1)."""
    return rto_ms * _MS * float(2**retransmits - 1)


def plan_chunk(shape: DirectionShape, rng: random.Random, size: int, now: float, *,
               prev_release: float, tx_free: float, rto_ms: float) -> Release:
    """Plan one chunk of an ordered byte stream (TCP): never dropped, never before ``prev_release``.

    A zero-size chunk (end of stream) is never "lost"; it queues behind earlier chunks like any other.
    """
    retransmits = count_retransmits(shape.loss, rng) if size > 0 else 0
    sent, tx_free = pace(shape, size, now, tx_free)
    at = sent + sample_latency_s(shape, rng) + rto_penalty_s(rto_ms, retransmits)
    return Release(at=max(at, prev_release), tx_free=tx_free, retransmits=retransmits)


def plan_datagram(shape: DirectionShape, rng: random.Random, size: int, now: float, *, tx_free: float,
                  queue_limit_s: float = UDP_QUEUE_LIMIT_S) -> Release:
    """Plan one datagram (UDP): dropped by ``loss`` or by a full queue, otherwise paced and delayed."""
    if shape.loss > 0 and rng.random() < shape.loss:
        return Release(at=now, tx_free=tx_free, dropped="loss")
    sent, new_tx_free = pace(shape, size, now, tx_free)
    if sent - now > queue_limit_s:
        return Release(at=now, tx_free=tx_free, dropped="queue")
    return Release(at=sent + sample_latency_s(shape, rng), tx_free=new_tx_free)


__all__ = [
    "MAX_RETRANSMITS",
    "NEVER",
    "UDP_QUEUE_LIMIT_S",
    "Release",
    "count_retransmits",
    "pace",
    "plan_chunk",
    "plan_datagram",
    "rto_penalty_s",
    "sample_latency_s",
]
