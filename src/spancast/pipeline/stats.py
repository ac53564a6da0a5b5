"""Per-destination counters and histograms: received = delivered + dropped + filtered + sampled out + queued + in flight + spooled."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "BATCH_BYTES_BUCKETS",
    "BATCH_RECORDS_BUCKETS",
    "DROP_REASONS",
    "LATENCY_BUCKETS_S",
    "REQUEST_OUTCOMES",
    "DestinationStats",
    "Histogram",
]

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
    "spool_full",  # given back to a full spool under overflow = drop_oldest, whose oldest segment held it
    "internal_error",  # a bug in spancast: logged with its traceback
)

#: How one request ended (the keys of DestinationStats.requests). A request is one HTTP exchange: a
#: batch's send or re-send, one part of a batch that takes several, or one poll of a pending batch;
#: for the file destination, one append.
REQUEST_OUTCOMES = (
    "ok",  # accepted (2xx, partial success included); for a poll: finished
    "pending",  # accepted, not finished yet (Snowflake's 202): followed with polls
    "too_large",  # 413: the batch is split
    "retry",  # a retryable status (429, 502, 503, 504, or the destination's own)
    "permanent",  # refused for good
    "timeout",  # no answer within the destination's timeout_s
    "error",  # no answer: connection refused or reset, DNS, a failed file write, or a bug
)
_OUTCOMES = frozenset(REQUEST_OUTCOMES)
# A destination is failing while its requests end like this; "too_large" says nothing either way.
_FAILED = frozenset({"retry", "permanent", "timeout", "error"})
_SUCCEEDED = frozenset({"ok", "pending"})

#: Upper bounds of the request latency buckets, in seconds: past the default timeout_s (10 s); longer answers
#: (Snowflake's timeout_s is 60 s) fall in +Inf.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Records per batch: powers of two, so the default max_batch_records (512) is an edge.
BATCH_RECORDS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: Bytes per batch as sent: powers of four from 1 KiB, so the default max_batch_bytes (4 MiB) and
#: common receiver limits (1 MiB) are edges.
BATCH_BYTES_BUCKETS = tuple(1024 * 4**k for k in range(8))  # 1 KiB .. 16 MiB


@dataclass(slots=True)
class Histogram:
    """Counts of observations per fixed bucket. counts[i] holds the values v with bounds[i-1] < v <= bounds[i]
    (a value equal to a bound is in that bound's bucket, as Prometheus' ``le`` has it); the last count
    holds those above every bound (``+Inf``). Not cumulative: cumulative() is."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    sum: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.bounds = tuple(self.bounds)
        if not self.bounds or any(a >= b for a, b in zip(self.bounds, self.bounds[1:])):
            raise ValueError(f"bucket bounds must be increasing, got {self.bounds!r}")
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        elif len(self.counts) != len(self.bounds) + 1:
            raise ValueError(f"{len(self.bounds)} bounds need {len(self.bounds) + 1} counts, got {len(self.counts)}")

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1  # last: snapshot() uses it to see an observation it caught half-way

    def cumulative(self) -> list[int]:
        """Observations at or below each bound, then all of them (the +Inf bucket)."""
        out, total = [], 0
        for n in self.counts:
            total += n
            out.append(total)
        return out

    def snapshot(self) -> Histogram:
        """A copy whose counts, sum and count agree, safe to take from a thread other than the one
        observing (a scrape while the loop records): retried when an observation lands mid-copy."""
        for _ in range(100):
            count = self.count
            counts = list(self.counts)
            total = self.sum
            if self.count == count and sum(counts) == count:
                return Histogram(self.bounds, counts, total, count)
        return Histogram(self.bounds, counts, total, sum(counts))  # a busy loop: the buckets win

    def __repr__(self) -> str:
        mean = f" mean={self.sum / self.count:.4g}" if self.count else ""
        return f"<Histogram count={self.count}{mean}>"


@dataclass(slots=True)
class DestinationStats:
    name: str
    received: int = 0
    filtered: int = 0  # left out by the API-key allowlist or the filter rules
    sampled_out: int = 0  # left out by sampling
    queued: int = 0  # in the backlog not yet read by this destination, or in its open batch
    in_flight: int = 0  # in closed batches being sent or waiting to be retried
    spooled: int = 0  # given back to the spool (retries exhausted, a deadline, a queue bound): re-sent from there
    delivered: int = 0
    delivered_bytes: int = 0  # as sent (after compression)
    retried: int = 0  # attempts after the first
    dropped: Counter = field(default_factory=Counter)
    given_back: Counter = field(default_factory=Counter)  # reason -> records given back to the spool (in all)
    batches: Counter = field(default_factory=Counter)  # close reason -> batches
    concurrency_limit: int = 0
    last_error: str = ""
    requests: Counter = field(default_factory=Counter)  # outcome (REQUEST_OUTCOMES) -> requests
    consecutive_failures: int = 0  # requests failed in a row since the last that succeeded
    request_latency_s: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_S))
    batch_records: Histogram = field(default_factory=lambda: Histogram(BATCH_RECORDS_BUCKETS))
    batch_bytes: Histogram = field(default_factory=lambda: Histogram(BATCH_BYTES_BUCKETS))

    def drop(self, reason: str, records: int) -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        if records:
            self.dropped[reason] += records

    def give_back(self, reason: str, records: int) -> None:
        """Records leave this destination's queue for the spool, which re-sends them later (not a loss)."""
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        if records:
            self.spooled += records
            self.given_back[reason] += records

    def request_done(self, outcome: str, latency_s: float) -> None:
        """One request ended (outcome in REQUEST_OUTCOMES) after latency_s on the wire."""
        if outcome not in _OUTCOMES:
            raise ValueError(f"unknown request outcome {outcome!r}")
        self.requests[outcome] += 1
        self.request_latency_s.observe(latency_s)
        if outcome in _FAILED:
            self.consecutive_failures += 1
        elif outcome in _SUCCEEDED:
            self.consecutive_failures = 0

    def batch_sent(self, records: int, nbytes: int) -> None:
        """A batch went out for the first time (re-sends are not batches of their own)."""
        self.batch_records.observe(records)
        self.batch_bytes.observe(nbytes)

    def balanced(self) -> bool:
        """The invariant every test checks: nothing is lost without being counted."""
        accounted = (
            self.delivered + sum(self.dropped.values()) + self.filtered + self.sampled_out + self.queued + self.in_flight
            + self.spooled
        )
        return accounted == self.received

    def __repr__(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        failing = f" consecutive_failures={self.consecutive_failures}" if self.consecutive_failures else ""
        return (
            f"<DestinationStats {self.name} received={self.received} delivered={self.delivered} "
            f"filtered={self.filtered} sampled_out={self.sampled_out} queued={self.queued} "
            f"in_flight={self.in_flight}{f' spooled={self.spooled}' if self.spooled else ''} dropped=({drops}) "
            f"retried={self.retried}{failing}>"
        )
