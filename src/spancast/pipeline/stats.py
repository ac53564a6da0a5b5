"""Per-destination counters. They add up: received = delivered + dropped + filtered + sampled out + queued + in flight."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["DestinationStats", "DROP_REASONS"]

#: Why a record did not reach a destination (the keys of DestinationStats.dropped).
DROP_REASONS = (
    "queue_full",  # the intake or the destination's queue was at its bound
    "invalid_record",  # the record could not be encoded for this destination
    "too_old",  # older than the destination accepts (Datadog LLM Observability: 24 hours)
    "permanent_http_error",  # a 4xx (other than 413/429) or a non-retryable 5xx
    "too_large",  # a lone record still refused with 413
    "retries_exhausted",  # max_attempts or max_retry_elapsed_s ran out
    "partial_success",  # delivered, but the receiver said it rejected it
    "shutdown_deadline",  # still queued or in flight when close() ran out of time
    "internal_error",  # a bug in spancast: logged with its traceback
)


@dataclass(slots=True)
class DestinationStats:
    name: str
    received: int = 0
    filtered: int = 0  # left out by the API-key allowlist or the filter rules
    sampled_out: int = 0  # left out by sampling
    queued: int = 0  # in the backlog not yet read by this destination, or in its open batch
    in_flight: int = 0  # in closed batches being sent or waiting to be retried
    delivered: int = 0
    delivered_bytes: int = 0  # as sent (after compression)
    retried: int = 0  # attempts after the first
    dropped: Counter = field(default_factory=Counter)
    batches: Counter = field(default_factory=Counter)  # close reason -> batches
    concurrency_limit: int = 0
    last_error: str = ""

    def drop(self, reason: str, records: int) -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        if records:
            self.dropped[reason] += records

    def balanced(self) -> bool:
        """The invariant every test checks: nothing is lost without being counted."""
        accounted = (
            self.delivered + sum(self.dropped.values()) + self.filtered + self.sampled_out + self.queued + self.in_flight
        )
        return accounted == self.received

    def __repr__(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        return (
            f"<DestinationStats {self.name} received={self.received} delivered={self.delivered} "
            f"filtered={self.filtered} sampled_out={self.sampled_out} queued={self.queued} "
            f"in_flight={self.in_flight} dropped=({drops}) retried={self.retried}>"
        )
