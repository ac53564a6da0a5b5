"""What to do with a response (deliver, retry, split, give up) and how long to wait before a retry.

One function decides from the status and headers, as the OTLP specification says: 429, 502, 503
and 504 and connection errors are retried, honouring Retry-After; 413 splits the batch; other
4xx and 5xx are permanent. A destination whose API retries more (PostHog retries every 5xx) passes
its own set of retryable statuses. 429, 503 and timeouts also mean "overloaded": the adaptive
concurrency limit backs off on them. Waits use exponential backoff with full jitter.
"""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Mapping

from ..errors import ConfigError

__all__ = ["Action", "Decision", "RetryPolicy", "decide", "decide_error", "parse_retry_after", "OTLP_RETRYABLE"]

OTLP_RETRYABLE = frozenset({429, 502, 503, 504})
OVERLOAD = frozenset({429, 503})


class Action(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    SPLIT = "split"  # 413: halve the batch and send the halves
    PERMANENT = "permanent"
    # Accepted but not finished (Snowflake's 202): the sender asks again at Decision.poll_url, with
    # the destination's poll_request(), until the answer is one of the others.
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one attempt."""

    action: Action
    status: int | None = None
    retry_after_s: float | None = None  # what the server asked for, when it did
    overload: bool = False  # the concurrency limit should back off
    reason: str = ""
    rejected_spans: int = 0  # delivered, but the receiver refused this many (OTLP partial success)
    poll_url: str | None = None  # PENDING: where to ask how it ended

    def __repr__(self) -> str:
        extra = f" retry_after={self.retry_after_s:g}s" if self.retry_after_s is not None else ""
        extra += f" rejected={self.rejected_spans}" if self.rejected_spans else ""
        return f"<Decision {self.action.value} status={self.status}{extra}{' overload' if self.overload else ''}>"


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:  # delta-seconds; a fraction is not in RFC 9110 but some servers send one
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now_s is None else now_s
    return max(0.0, when.timestamp() - now)


def decide(
    status: int,
    headers: Mapping[str, str] | None = None,
    *,
    retryable: frozenset[int] = OTLP_RETRYABLE,
    now_s: float | None = None,
) -> Decision:
    """The verdict on an HTTP response by its status and headers (partial success is the destination's)."""
    if 200 <= status < 300:
        return Decision(Action.DELIVERED, status)
    if status == 413:
        return Decision(Action.SPLIT, status, reason="payload too large")
    if status in retryable:
        after = parse_retry_after(_header(headers, "retry-after"), now_s)
        return Decision(Action.RETRY, status, after, status in OVERLOAD, f"HTTP {status}")
    return Decision(Action.PERMANENT, status, reason=f"HTTP {status}")


def decide_error(kind: str) -> Decision:
    """The verdict when no response came back: "timeout" (overload) or "connection" (reset, refused, DNS)."""
    if kind not in ("timeout", "connection"):
        raise ValueError(f"unknown error kind {kind!r}")
    return Decision(Action.RETRY, None, None, kind == "timeout", kind)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; aiohttp's CIMultiDict is not
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a batch is retried before it is dropped as "retries exhausted"."""

    max_attempts: int = field(default=6, metadata={
        "doc": "attempts per batch in all, the first included (1: never retried)"})
    max_retry_elapsed_s: float = field(default=60.0, metadata={
        "doc": "no retry starts later than this many seconds after the batch's first attempt"})
    initial_backoff_s: float = field(default=0.2, metadata={
        "doc": "the first retry waits a random 0 to this many seconds; the bound doubles each retry"})
    max_backoff_s: float = field(default=10.0, metadata={
        "doc": "the doubling bound stops here (seconds); a server's Retry-After may ask for longer"})
    max_retry_after_s: float = field(default=120.0, metadata={
        "doc": "a server's Retry-After is obeyed up to this many seconds; longer is capped, not obeyed"})
    max_pending_s: float = field(default=300.0, metadata={
        "doc": "seconds a batch the receiver accepted but is still working on (Snowflake's 202) is followed"})
    max_poll_interval_s: float = field(default=2.0, metadata={
        "doc": "polls of such a pending batch back off from 50 ms up to this many seconds apart"})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("retry.max_attempts", f"must be at least 1, got {self.max_attempts}")
        for name in ("max_retry_elapsed_s", "initial_backoff_s", "max_backoff_s", "max_retry_after_s",
                     "max_pending_s", "max_poll_interval_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"retry.{name}", f"must be >= 0, got {getattr(self, name)}")
        if self.initial_backoff_s > self.max_backoff_s:
            raise ConfigError("retry.initial_backoff_s", "must not exceed max_backoff_s")

    def poll_delay_s(self, polls: int, decision: Decision) -> float:
        """Seconds before poll number polls + 1 of a pending batch: the server's word, else 50 ms doubling."""
        if decision.retry_after_s is not None:
            return min(decision.retry_after_s, self.max_poll_interval_s)
        return min(0.05 * 2**polls, self.max_poll_interval_s)

    def delay_s(
        self, attempt: int, elapsed_s: float, decision: Decision, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait before attempt number attempt + 1, or None to give up.

        attempt counts the attempts made so far (1 after the first); elapsed_s is the time since the
        first. Full jitter: uniform in [0, min(max_backoff, initial * 2**(attempt-1))]; a Retry-After
        from the server is a floor (capped at max_retry_after_s).
        """
        if decision.action is not Action.RETRY or attempt >= self.max_attempts:
            return None
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        wait = (rng or random).uniform(0.0, ceiling)
        if decision.retry_after_s is not None:
            wait = max(wait, min(decision.retry_after_s, self.max_retry_after_s))
        if elapsed_s + wait > self.max_retry_elapsed_s:
            return None
        return wait
