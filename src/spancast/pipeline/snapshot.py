"""The shape of Broadcaster.stats(): typed dicts, so that the CLI, the metrics and tests read keys of known types."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = ["IntakeSnapshot", "BacklogSnapshot", "DestinationSnapshot", "StatsSnapshot"]


class IntakeSnapshot(TypedDict):
    """What emit() has queued, and what it refused."""

    queued: int
    bytes: int
    dropped: int  # refused under the overflow policy
    invalid: int  # not a Generation
    max_records: int
    max_bytes: int
    refusing: str | None  # why records cannot be taken now (the spool), or None


class BacklogSnapshot(TypedDict):
    """The records the lanes share, and the pipeline's memory against its cap."""

    records: int
    bytes: int
    memory_bytes: int
    max_memory_bytes: int


class DestinationSnapshot(TypedDict):
    """One destination's counters (spancast.pipeline.stats.DestinationStats) and what it holds now."""

    received: int
    filtered: int
    sampled_out: int
    queued: int
    queued_bytes: int
    oldest_queued_age_s: float
    in_flight: int
    in_flight_bytes: int
    spooled: int
    given_back: dict[str, int]
    delivered: int
    delivered_bytes: int  # as sent: compressed
    retried: int
    dropped: dict[str, int]  # by reason: stats.DROP_REASONS
    batches: dict[str, int]  # by what closed them (the batcher's reasons, and split)
    concurrency_limit: int
    last_error: str


class StatsSnapshot(TypedDict):
    """Broadcaster.stats(): the intake, the spool (when there is one), the backlog, and each destination by name."""

    intake: IntakeSnapshot
    destinations: dict[str, DestinationSnapshot]
    spool: NotRequired[dict[str, Any]]  # spancast.pipeline.spooling.SpoolLink.stats()
    backlog: BacklogSnapshot
