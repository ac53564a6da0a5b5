"""One open batch per destination: closes at max_batch_records, at max_batch_bytes (the exact encoded size),
or flush_interval_s after its first record; each close reason is counted.

The batcher encodes as records arrive (once per record and destination), so closing a batch is
finishing its buffer, not encoding it. A record that would overflow the byte limit closes the open
batch and starts the next one; a lone record larger than the limit is a batch of its own.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from . import defaults

__all__ = ["Batch", "BatchSettings", "Batcher"]


@dataclass(frozen=True, slots=True)
class BatchSettings:
    max_batch_records: int = defaults.MAX_BATCH_RECORDS
    max_batch_bytes: int = defaults.MAX_BATCH_BYTES
    flush_interval_s: float = defaults.FLUSH_INTERVAL_S

    def __post_init__(self) -> None:
        if self.max_batch_records < 1:
            raise ConfigError("max_batch_records", f"must be at least 1, got {self.max_batch_records}")
        if self.max_batch_bytes < 1024:
            raise ConfigError("max_batch_bytes", f"must be at least 1024, got {self.max_batch_bytes}")
        if not self.flush_interval_s > 0:
            raise ConfigError("flush_interval_s", f"must be > 0, got {self.flush_interval_s}")


@dataclass(slots=True)
class Batch:
    """A closed batch: the request body and the records in it (kept to split it on a 413)."""

    body: bytes
    items: list[Any]  # the records, in order
    reason: str  # records | bytes | interval | flush | split
    opened_at: float
    attempts: int = 0  # of the request going out now: each of a batch's requests has a retry budget of its own
    first_attempt_at: float | None = None  # of the request going out now
    payloads: list[Any] | None = None  # the destination's payloads of its requests, cut at the first attempt
    wires: list[Any] | None = None  # each payload as sent (compressed), made once for all attempts
    compressed_bytes: int = 0  # what the compressed copies in wires hold beside the body
    waiting: bool = False  # the sender counts it as waiting for a slot
    settled: bool = False  # the sender has counted its records as delivered or dropped
    # Which of the destination's requests for this batch goes next (most have one); a half of a batch split
    # by a 413 starts where that batch was, since the requests before were taken for all of its records.
    part: int = 0
    observed: bool = False  # its size went into the stats, on its first request
    positions: list[int] | None = None  # the records' backlog positions, when a spool needs them
    settles: bool = True  # False when its records stay unsettled (a spool replays them): retries exhausted

    @property
    def records(self) -> int:
        return len(self.items)

    @property
    def wire_bytes(self) -> int:
        """Its bytes as sent: the compressed payloads of the requests it sends (the body until they are made)."""
        if self.wires is None:
            return len(self.body)
        return sum(len(wire) for wire in self.wires if wire is not None)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.items]

    def __repr__(self) -> str:
        parts = f" part={self.part + 1}/{len(self.payloads)}" if self.payloads is not None and len(self.payloads) > 1 else ""
        return (f"<Batch records={self.records} bytes={len(self.body)} reason={self.reason}{parts}"
                f" attempts={self.attempts}>")


class Batcher:
    """Turns a stream of records into closed batches for one destination."""

    def __init__(self, encoder: Any, settings: BatchSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.encoder = encoder
        self.settings = settings or BatchSettings()
        self.clock = clock
        self.closed = Counter()  # close reason -> batches
        self._items: list[Any] = []
        self._positions: list[int] | None = None  # parallel to _items, when positions are tracked
        self.refused_positions: list[int] = []  # positions of the records the last add_many refused
        self._opened_at = 0.0

    @property
    def records(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self.encoder.size if self._items else 0

    def due_at(self) -> float | None:
        """When the open batch must close for its age, or None when nothing is open."""
        return self._opened_at + self.settings.flush_interval_s if self._items else None

    def add(self, record: Any) -> list[Batch]:
        """Add one record; returns the batches this closed (none, or one, or two for an oversized lone record).

        A record that cannot be encoded raises EncodeError and leaves the open batch as it was."""
        closed, invalid = self.add_many([record])
        if invalid:
            raise invalid[0][1]
        return closed

    def add_many(self, records: list[Any], positions: list[int] | None = None,
                 strip: Callable[[Any], Any] | None = None) -> tuple[list[Batch], list[tuple[Any, Exception]]]:
        """Add a chunk of records at once (the encoder runs the per-record loop); returns the batches
        this closed and the records that could not be encoded, each with its error. With positions
        (one per record), each batch carries its records' positions and refused_positions lists the
        refused records' ones. With strip, each record whose messages may hold media (the encoder checks
        it as it comes to it) is replaced by strip(record), in the batch and in what is sent; the list
        given is not changed."""
        s = self.settings
        media_from = 0 if strip is not None else sys.maxsize
        closed: list[Batch] = []
        invalid: list[tuple[Any, Exception]] = []
        tracked = positions is not None
        if tracked:
            self.refused_positions = []
            if self._positions is None:
                self._positions = []
        i, n = 0, len(records)
        records_copied = False
        while i < n:
            if not self._items:
                self._opened_at = self.clock()
            errors: list[tuple[int, Exception]] = []
            j, full = self.encoder.append_many(records, i, s.max_batch_records, s.max_batch_bytes, errors, media_from)
            if errors:
                bad = {k for k, _ in errors}
                self._items.extend(r for k, r in enumerate(records[i:j], i) if k not in bad)
                invalid.extend((records[k], exc) for k, exc in errors)
                if tracked:
                    self._positions.extend(p for k, p in enumerate(positions[i:j], i) if k not in bad)  # type: ignore[union-attr, index]
                    self.refused_positions.extend(positions[k] for k in sorted(bad))  # type: ignore[index]
            else:
                self._items.extend(records[i:j])
                if tracked:
                    self._positions.extend(positions[i:j])  # type: ignore[union-attr, index]
            i = j
            if full == "media":
                records = records if records_copied else list(records)
                records_copied = True
                records[i] = strip(records[i])  # type: ignore[misc]
                media_from = i + 1  # the stripped record may still look like media to the quick check
                continue
            if full is not None and self._items:
                closed.append(self._close(full))
        return closed, invalid

    @property
    def first_position(self) -> int | None:
        """The position of the open batch's first record (tracked batchers only)."""
        return self._positions[0] if self._positions else None

    def flush_if_due(self, now: float | None = None) -> Batch | None:
        due = self.due_at()
        if due is not None and (self.clock() if now is None else now) >= due:
            return self._close("interval")
        return None

    def flush(self) -> Batch | None:
        """Close the open batch now (flush() and shutdown), if there is one."""
        return self._close("flush") if self._items else None

    def discard(self) -> list[int] | None:
        """Empty the open batch without sending it (shutdown); returns its records' positions when tracked."""
        positions = self._positions
        if self._items:
            self.encoder.finish_view()
            self._items = []
        if positions is not None:
            self._positions = []
        return positions

    def _close(self, reason: str) -> Batch:
        # finish_view: the native encoder hands over its (pooled) buffer rather than copying it
        batch = Batch(self.encoder.finish_view(), self._items, reason, self._opened_at)
        self._items = []
        if self._positions is not None:
            batch.positions, self._positions = self._positions, []
        self.closed[reason] += 1
        return batch

    def __repr__(self) -> str:
        age = self.clock() - self._opened_at if self._items else 0.0
        return f"<Batcher records={self.records} bytes={self.bytes} oldest={age:.1f}s closed={dict(self.closed)}>"
