"""Retry decisions from status and headers, and the backoff schedule."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from spancast import ConfigError
from spancast.pipeline.retry import Action, RetryPolicy, decide, decide_error, parse_retry_after


@pytest.mark.parametrize(
    "status, action, overload",
    [
        (200, Action.DELIVERED, False),
        (202, Action.DELIVERED, False),
        (204, Action.DELIVERED, False),
        (413, Action.SPLIT, False),
        (429, Action.RETRY, True),
        (503, Action.RETRY, True),
        (502, Action.RETRY, False),
        (504, Action.RETRY, False),
        (400, Action.PERMANENT, False),
        (401, Action.PERMANENT, False),
        (404, Action.PERMANENT, False),
        (500, Action.PERMANENT, False),  # not retryable under the OTLP specification
    ],
)
def test_otlp_statuses(status, action, overload):
    d = decide(status)
    assert (d.action, d.overload, d.status) == (action, overload, status)


def test_a_destination_can_retry_more_statuses():
    assert decide(500, retryable=frozenset({429, 500, 502, 503, 504})).action is Action.RETRY


def test_retry_after_in_seconds_and_as_a_date_any_header_case():
    assert decide(429, {"Retry-After": "7"}).retry_after_s == 7.0
    assert decide(503, {"retry-after": "0"}).retry_after_s == 0.0
    now = 1_700_000_000.0
    date = formatdate(now + 30, usegmt=True)
    assert decide(503, {"RETRY-AFTER": date}, now_s=now).retry_after_s == pytest.approx(30.0)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0.0  # a date in the past: now
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert decide(429).retry_after_s is None


def test_no_response():
    assert decide_error("timeout").action is Action.RETRY and decide_error("timeout").overload
    assert decide_error("connection").action is Action.RETRY and not decide_error("connection").overload
    with pytest.raises(ValueError):
        decide_error("boom")


def test_full_jitter_grows_to_the_cap_and_honours_retry_after():
    policy = RetryPolicy(max_attempts=10, max_retry_elapsed_s=1000, initial_backoff_s=0.5, max_backoff_s=4)
    rng = random.Random(1)
    retry = decide(502)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        waits = [policy.delay_s(attempt, 0, retry, rng) for _ in range(2000)]
        assert 0 <= min(waits) and max(waits) <= ceiling
        assert max(waits) > 0.9 * ceiling and min(waits) < 0.1 * ceiling  # spread over the whole range
    asked = decide(429, {"Retry-After": "9"})
    assert all(policy.delay_s(1, 0, asked, rng) >= 9 for _ in range(100))
    capped = RetryPolicy(max_retry_after_s=5, max_retry_elapsed_s=1000).delay_s(1, 0, decide(429, {"Retry-After": "3600"}), rng)
    assert 5 <= capped <= 5.2


def test_giving_up():
    policy = RetryPolicy(max_attempts=3, max_retry_elapsed_s=10)
    assert policy.delay_s(3, 0, decide(503)) is None  # attempts exhausted
    assert policy.delay_s(1, 9.99, decide(429, {"Retry-After": "5"})) is None  # past the elapsed budget
    assert policy.delay_s(1, 0, decide(400)) is None and policy.delay_s(1, 0, decide(200)) is None


@pytest.mark.parametrize(
    "kwargs, path",
    [
        ({"max_attempts": 0}, "retry.max_attempts"),
        ({"max_backoff_s": -1}, "retry.max_backoff_s"),
        ({"initial_backoff_s": 5, "max_backoff_s": 1}, "retry.initial_backoff_s"),
        ({"max_retry_elapsed_s": float("nan")}, "retry.max_retry_elapsed_s"),
    ],
)
def test_bad_policies_name_the_setting(kwargs, path):
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**kwargs)
    assert info.value.path == path


def test_reprs():
    assert repr(decide(429, {"Retry-After": "2"})) == "<Decision retry status=429 retry_after=2s overload>"


def test_retry_after_fractions_and_nonsense():
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") is None and parse_retry_after("nan") is None and parse_retry_after("inf") is None
