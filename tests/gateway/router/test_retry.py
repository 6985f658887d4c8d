from __future__ import annotations

import random

import pytest

from gateway.router import RetryBudget, RetryPolicy
from gateway.router.config import RetryConfig


def test_budget_allows_at_most_20_percent_of_requests():
    budget = RetryBudget(RetryConfig())
    granted = 0
    for k in range(1000):
        budget.record_request(k * 0.01)
        granted += budget.try_retry(k * 0.01)  # every request fails and wants a retry
    assert granted == 200
    assert budget.denied == 800


def test_tokens_are_capped_so_bursts_are_bounded():
    budget = RetryBudget(RetryConfig(max_tokens=3.0))
    for _ in range(100):
        budget.record_request(0.0)
    assert sum(budget.try_retry(0.0) for _ in range(10)) == 3


def test_min_retries_per_second_adds_a_time_allowance():
    budget = RetryBudget(RetryConfig(budget_ratio=0.0, min_retries_per_s=2.0))
    budget.record_request(0.0)
    assert budget.try_retry(0.0) is False
    assert budget.try_retry(1.0) is True  # 2 tokens accrued in 1 s
    assert budget.try_retry(1.0) is True
    assert budget.try_retry(1.0) is False


def test_retry_policy_backoff_attempts_and_deadline():
    retries = RetryPolicy(RetryConfig(budget_ratio=1.0, max_attempts=2), random.Random(0))
    backoff = retries.new_request(0.0)
    delay = retries.retry_delay(backoff, 0.0)
    assert delay is not None and 0.0 <= delay <= 0.005  # full jitter within the base
    assert retries.retry_delay(backoff, 0.01) is None  # max attempts (2) used
    late = retries.new_request(1.0)
    assert retries.retry_delay(late, 1.0, deadline=1.0) is None  # no time left before the deadline


def test_retry_policy_gives_up_when_the_budget_is_spent():
    retries = RetryPolicy(RetryConfig(max_attempts=5), random.Random(0))
    outcomes = [retries.retry_delay(retries.new_request(float(k)), float(k)) is not None for k in range(10)]
    assert sum(outcomes) == 2  # 10 requests × 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_backoff_is_deterministic_for_a_seed(seed):
    def delays():
        retries = RetryPolicy(RetryConfig(budget_ratio=1.0, max_tokens=10, max_attempts=4), random.Random(seed))
        backoff = retries.new_request(0.0)
        return [retries.retry_delay(backoff, 0.0) for _ in range(3)]

    assert delays() == delays()
