from __future__ import annotations

import random

import pytest

from aiotwin.netem import DirectionShape
from aiotwin.netem.delay import (
    MAX_RETRANSMITS,
    NEVER,
    UDP_QUEUE_LIMIT_S,
    count_retransmits,
    pace,
    plan_chunk,
    plan_datagram,
    rto_penalty_s,
    sample_latency_s,
)


def _rng() -> random.Random:
    return random.Random(7)


# (shape, size, now, prev_release, tx_free) -> (release at, new tx_free)
CHUNK_CASES = [
    pytest.param(DirectionShape(), 100, 5.0, NEVER, NEVER, 5.0, NEVER, id="transparent"),
    pytest.param(DirectionShape(delay_ms=20), 100, 5.0, NEVER, NEVER, 5.02, NEVER, id="constant-delay"),
    pytest.param(DirectionShape(delay_ms=20), 100, 5.0, 6.0, NEVER, 6.0, NEVER, id="never-before-previous"),
    pytest.param(DirectionShape(rate_bytes_s=1000), 500, 5.0, NEVER, NEVER, 5.5, 5.5, id="size-over-rate"),
    pytest.param(DirectionShape(rate_bytes_s=1000), 500, 5.0, NEVER, 7.0, 7.5, 7.5, id="queued-behind-serializer"),
    pytest.param(DirectionShape(rate_bytes_s=1000, delay_ms=100), 500, 5.0, NEVER, NEVER, 5.6, 5.5,
                 id="bandwidth-then-latency"),
    pytest.param(DirectionShape(rate_bytes_s=1000, burst_bytes=1000), 500, 5.0, NEVER, NEVER, 5.0, 4.5,
                 id="burst-credit-passes-at-once"),
    pytest.param(DirectionShape(rate_bytes_s=1000, burst_bytes=1000), 1500, 5.0, NEVER, NEVER, 5.5, 5.5,
                 id="burst-smaller-than-chunk"),
    pytest.param(DirectionShape(rate_bytes_s=1000, delay_ms=10), 0, 5.0, NEVER, 9.0, 9.01, 9.0,
                 id="eof-queues-behind-data"),
]


@pytest.mark.parametrize(("shape", "size", "now", "prev", "tx_free", "at", "new_tx_free"), CHUNK_CASES)
def test_plan_chunk_table(shape, size, now, prev, tx_free, at, new_tx_free):
    release = plan_chunk(shape, _rng(), size, now, prev_release=prev, tx_free=tx_free, rto_ms=200)
    assert release.at == pytest.approx(at)
    assert release.tx_free == pytest.approx(new_tx_free)
    assert release.dropped is None


def test_stream_of_chunks_under_jitter_is_ordered_and_paced():
    shape = DirectionShape(delay_ms=10, jitter_ms=9, rate_bytes_s=1_000_000)
    rng, prev, tx_free, now = _rng(), NEVER, NEVER, 0.0
    releases = []
    for _ in range(200):
        r = plan_chunk(shape, rng, 10_000, now, prev_release=prev, tx_free=tx_free, rto_ms=200)
        prev, tx_free = r.at, r.tx_free
        releases.append(r.at)
        now += 0.001  # the sender is faster than the link
    assert releases == sorted(releases)
    assert releases[-1] >= 200 * 10_000 / 1_000_000  # 2 MB at 1 MB/s takes at least 2 s
    assert tx_free == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("shape", "low", "high"),
    [
        (DirectionShape(delay_ms=20, jitter_ms=5), 0.015, 0.025),
        (DirectionShape(distribution="normal", delay_ms=1, sd_ms=50), 0.0, 1.0),  # clamped at 0
        (DirectionShape(distribution="pareto", delay_ms=10, pareto_shape=1.2), 0.010, 600.0),
        (DirectionShape(distribution="pareto", delay_ms=10, pareto_shape=0.05), 0.010, 600.0),  # capped
    ],
)
def test_latency_samples_stay_in_their_support(shape, low, high):
    rng = _rng()
    samples = [sample_latency_s(shape, rng) for _ in range(2000)]
    assert min(samples) >= low
    assert max(samples) <= high


def test_normal_latency_has_the_configured_mean_and_spread():
    rng = _rng()
    shape = DirectionShape(distribution="normal", delay_ms=20, sd_ms=5)
    samples = sorted(sample_latency_s(shape, rng) for _ in range(4000))
    assert samples[2000] == pytest.approx(0.020, abs=0.0005)
    assert samples[3800] == pytest.approx(0.020 + 1.645 * 0.005, abs=0.001)


def test_same_seed_same_plan():
    shape = DirectionShape(distribution="pareto", delay_ms=5, jitter_ms=2, loss=0.3)

    def plans(seed: int) -> list[tuple[float, str | None]]:
        rng = random.Random(seed)
        return [(r.at, r.dropped) for r in (plan_datagram(shape, rng, 100, 0.0, tx_free=NEVER) for _ in range(50))]

    assert plans(3) == plans(3)
    assert plans(3) != plans(4)


def test_datagram_loss_extremes_and_rate():
    assert all(plan_datagram(DirectionShape(loss=1.0), _rng(), 10, 0.0, tx_free=NEVER).dropped == "loss"
               for _ in range(20))
    rng = _rng()
    dropped = sum(plan_datagram(DirectionShape(loss=0.25), rng, 10, 0.0, tx_free=NEVER).dropped == "loss"
                  for _ in range(10_000))
    assert 2300 < dropped < 2700


def test_datagram_tail_drop_when_the_queue_is_full():
    shape = DirectionShape(rate_bytes_s=1000)
    full = plan_datagram(shape, _rng(), 100, 0.0, tx_free=UDP_QUEUE_LIMIT_S)
    assert full.dropped == "queue"
    assert full.tx_free == UDP_QUEUE_LIMIT_S  # a dropped datagram uses no bandwidth
    fits = plan_datagram(shape, _rng(), 100, 0.0, tx_free=0.5)
    assert fits.dropped is None and fits.at == pytest.approx(0.6)


def test_tcp_loss_is_delay_with_backoff_never_a_drop():
    shape = DirectionShape(loss=1.0)
    release = plan_chunk(shape, _rng(), 100, 0.0, prev_release=NEVER, tx_free=NEVER, rto_ms=200)
    assert release.dropped is None
    assert release.retransmits == MAX_RETRANSMITS
    assert release.at == pytest.approx(0.2 * (2**MAX_RETRANSMITS - 1))
    assert count_retransmits(0.0, _rng()) == 0
    assert rto_penalty_s(200, 2) == pytest.approx(0.6)


def test_tcp_loss_rate_matches_probability():
    rng = _rng()
    lost = sum(count_retransmits(0.1, rng) > 0 for _ in range(10_000))
    assert 900 < lost < 1100


def test_unlimited_rate_does_not_touch_the_serializer():
    assert pace(DirectionShape(), 10**9, 3.0, NEVER) == (3.0, NEVER)
