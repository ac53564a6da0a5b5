"""The batch encoder of the destinations that do not speak OTLP: one JSON document (or line) per record.

An EventEncoder offers what the pipeline needs of any encoder (TraceEncoderProtocol in
spancast.codec): append with an exact size so far, append_many with record and byte limits,
finish. A destination subclasses it with ``render(record) -> bytes`` (one event, already JSON) and
the batch framing: ``prefix``, ``separator`` and ``suffix`` (a JSON array is ``[``, ``,``, ``]``;
NDJSON is ``""``, ``\\n``, ``\\n``). A record ``render`` cannot handle raises EncodeError (or
ValueError / TypeError, turned into one) and adds nothing.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import EncodeError

__all__ = ["EventEncoder"]


class EventEncoder:
    """Appends rendered records into one request body; knows its exact size so far."""

    prefix: bytes = b"["
    separator: bytes = b","
    suffix: bytes = b"]"
    format = "json"

    def __init__(self, render: Any, *, prefix: bytes | None = None, separator: bytes | None = None,
                 suffix: bytes | None = None) -> None:
        self.render = render  # record -> bytes (one event)
        if prefix is not None:
            self.prefix = prefix
        if separator is not None:
            self.separator = separator
        if suffix is not None:
            self.suffix = suffix
        self._chunks: list[bytes] = []
        self._body = 0  # bytes of the events and the separators between them
        self.records = 0

    @property
    def spans(self) -> int:  # the pipeline's name for "items in the body"
        return self.records

    def _render(self, record: Any) -> bytes:
        try:
            return self.render(record)
        except EncodeError:
            raise
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise EncodeError("<record>", f"{type(exc).__name__}: {exc}") from None

    def append(self, record: Any, max_bytes: int = -1) -> int:
        """Add one record; returns the bytes it added (0: it would not fit under max_bytes and the body
        is not empty). A lone record is always added, however large."""
        event = self._render(record)
        added = len(event) + (len(self.separator) if self.records else 0)
        if max_bytes >= 0 and self.records and self.size + added > max_bytes:
            return 0
        self._chunks.append(event)
        self._body += added
        self.records += 1
        return added if self.records > 1 else added + len(self.prefix) + len(self.suffix)

    def append_many(self, records: list, start: int, max_records: int, max_bytes: int,
                    errors: list) -> tuple[int, str | None]:
        """As TraceEncoder.append_many: (next index, "records" | "bytes" | None); bad records go to errors."""
        i = start
        while i < len(records):
            if self.records >= max_records:
                return i, "records"
            try:
                added = self.append(records[i], max_bytes)
            except EncodeError as exc:
                errors.append((i, exc))
                i += 1
                continue
            if added == 0:
                return i, "bytes"
            i += 1
            if self.size >= max_bytes:
                return i, "bytes"
        return i, "records" if self.records >= max_records else None

    def extend(self, records: Iterable[Any]) -> None:
        for record in records:
            self.append(record)

    @property
    def size(self) -> int:
        """Exact length of what finish() would return now."""
        return len(self.prefix) + self._body + len(self.suffix)

    def finish(self) -> bytes:
        data = self.prefix + self.separator.join(self._chunks) + self.suffix
        self.reset()
        return data

    finish_view = finish

    def reset(self) -> None:
        self._chunks = []
        self._body = 0
        self.records = 0

    def __repr__(self) -> str:
        return f"<EventEncoder records={self.records} bytes={self.size}>"
