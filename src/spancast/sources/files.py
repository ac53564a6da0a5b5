"""Records read from a file or stdin: NDJSON streamed line by line, or one JSON document read whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from ..errors import RecordError
from ..record import Generation, decode_records

__all__ = ["read_records"]

CHUNK_LINES = 1000  # records handed on at a time: the caller's progress bar moves, memory stays flat


def read_records(stream: BinaryIO) -> Iterator[tuple[list[Generation], list[RecordError], int]]:
    """Yields (records, errors, bytes read) chunk by chunk; an error's index is its 0-based line number
    (its position, for a JSON array), so one bad line never hides the others."""
    first = stream.readline()
    head = first.lstrip()
    if head[:1] == b"[" or (head[:1] == b"{" and not _whole_object(head)):  # an array, or a pretty-printed object
        data = first + stream.read()
        result = decode_records(data)
        yield result.records, result.errors, len(data)
        return
    records: list[Generation] = []
    errors: list[RecordError] = []
    nbytes = 0
    line, number = first, 0
    while line:
        nbytes += len(line)
        if line.lstrip()[:1] == b"[":  # one error for the line, not one per element of an array on it
            errors.append(RecordError("<record>", "a JSON array on one line: NDJSON holds one object per line",
                                      number))
        elif line.strip():
            result = decode_records(line)
            records.extend(result.records)
            errors.extend(RecordError(e.field, e.reason, number) for e in result.errors)
        number += 1
        if number % CHUNK_LINES == 0:
            yield records, errors, nbytes
            records, errors, nbytes = [], [], 0
        line = stream.readline()
    if records or errors or nbytes:
        yield records, errors, nbytes


def _whole_object(line: bytes) -> bool:
    return line.rstrip()[-1:] == b"}"
