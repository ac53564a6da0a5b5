"""The 413 split step: a batch the receiver refused as too large becomes two halves, re-encoded from its records.

A lone record still too large is dropped ("too_large"). A record the encoder refuses now though it took it
before (Datadog: it aged past 24 hours meanwhile) is counted and settled; the others go on. The requests
of the batch before the refused one were taken for every record: each half starts at the refused one
(Opik: a 413 on the spans sends the halves' spans, not their traces again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .batcher import Batch
from .stats import DestinationStats

__all__ = ["split"]


def split(batch: Batch, destination: Any, stats: DestinationStats,
          on_settled: Callable[[list[int]], None] | None = None) -> list[Batch]:
    """The halves of a batch answered 413, to be submitted in its place (none for a lone record, dropped
    here). on_settled gets the spool positions of the records refused on re-encoding."""
    if batch.records == 1:
        stats.drop("too_large", 1)
        stats.last_error = "HTTP 413 for a single record"
        return []
    half = batch.records // 2
    batch.settles = False  # its halves settle its records
    positions = batch.positions
    halves = []
    for lo, hi in ((0, half), (half, batch.records)):
        part = batch.items[lo:hi]
        where = positions[lo:hi] if positions is not None else None
        encoder = destination.new_encoder()
        errors: list = []
        encoder.append_many(part, 0, len(part), 1 << 62, errors)
        if errors:
            bad = {k for k, _ in errors}
            for _, exc in errors:
                stats.drop(getattr(exc, "drop_reason", "invalid_record"), 1)  # EncodeError's, else a bug's
                stats.last_error = f"re-encoding a split batch: {exc}"[:300]
            part = [r for k, r in enumerate(part) if k not in bad]
            if where is not None:
                if on_settled is not None:
                    on_settled([where[k] for k in sorted(bad)])
                where = [p for k, p in enumerate(where) if k not in bad]
        if part:
            stats.batches["split"] += 1
            halves.append(Batch(encoder.finish(), part, "split", batch.opened_at, positions=where, part=batch.part))
    return halves
