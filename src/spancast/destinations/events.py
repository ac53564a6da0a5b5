"""The batch encoder of the destinations that do not speak OTLP: one JSON document (or line) per record.

An EventEncoder offers what the pipeline needs of any encoder (TraceEncoderProtocol in
spancast.codec): append with an exact size so far, append_many with record and byte limits,
finish. A destination subclasses it with ``render(record) -> bytes`` (one event, already JSON) and
the batch framing: ``prefix``, ``separator`` and ``suffix`` (a JSON array is ``[``, ``,``, ``]``;
NDJSON is ``""``, ``\\n``, ``\\n``). A record ``render`` cannot handle raises EncodeError (or
ValueError / TypeError, turned into one) and adds nothing.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from ..codec import implementation
from ..codec.values import id_text as trace_text
from ..errors import EncodeError
from ..record import Generation

__all__ = ["EventEncoder", "iso_ms", "trace_text"]


def iso_ms(ns: int) -> str:
    """Unix nanoseconds as ISO 8601 UTC with milliseconds (``2024-11-19T07:06:40.000Z``)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}Z"


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
        # Only a Generation went through routing (allowlist, rules, sampling, privacy mode): anything
        # else is refused here, so a look-alike object can never carry its content past privacy mode.
        if not isinstance(record, Generation):
            raise EncodeError("<record>", f"expected a Generation, got {type(record).__name__}")
        try:
            return self.render(record)
        except EncodeError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to render one record (an inf, an overflow,
            # a value of an odd type) is that record's: it is counted and the batch goes on without it
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

    # The same loop as the trace encoders' (records, then bytes; bad records to errors), over append above.
    append_many = implementation("python").TraceEncoder.append_many  # the twin's: a Python function

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
