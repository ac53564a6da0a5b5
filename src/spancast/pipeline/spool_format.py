"""The spool's segment format: framed entries behind a sync marker, and a reader that resynchronises past damage.

An entry (format 2)::

    magic b"\\xff\\xfeSP" | u8 kind | u32 length | u32 crc32(kind, length, payload) | payload (msgspec JSON)

    kind 1 RUN      {"run", "destinations", "progress": {name: [low, [[a, b], ...]]}, "start", "t"}: first in
                    every segment; start is the position of the segment's first record, t when it was opened
    kind 2 RECORDS  {"start", "only": [names] | null, "origin": [run, position] | null, "records": [...]}: one
                    chunk; origin says where replayed records were copied from (that run's positions
                    position.. are then carried here, for the destinations in only)
    kind 3 SETTLED  {"d": name, "runs": [[a, b], ...]}: positions that destination settled

The magic holds bytes (0xFF, 0xFE) that UTF-8, and so no JSON payload, ever contains. After a torn or
damaged entry the reader looks for the next magic and goes on from the first entry whose CRC holds,
so damage costs the damaged entries only; it reports each damaged stretch as a DAMAGE item.

Format 1 segments (``u32 length | u32 crc32(kind + payload) | u8 kind | payload``, no magic, written
by spancast before this format) are still read; they cannot be resynchronised, so damage ends them.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from ..record import Generation

__all__ = ["DAMAGE", "MAGIC", "RECORDS", "RUN", "SETTLED", "Damage", "RecordsHead", "Records", "RunHead",
           "Settled", "entries", "entry"]

MAGIC = b"\xff\xfeSP"
_HEADER = struct.Struct("<4sBII")
_LENGTH = struct.Struct("<BI")
_HEADER_V1 = struct.Struct("<IIB")
DAMAGE, RUN, RECORDS, SETTLED = 0, 1, 2, 3
_KINDS = frozenset({RUN, RECORDS, SETTLED})


class RunHead(msgspec.Struct):
    run: str
    destinations: list[str]
    progress: dict[str, tuple[int, list[tuple[int, int]]]]
    start: int | None = None  # None in format 1
    t: float | None = None


class Records(msgspec.Struct, omit_defaults=True):
    start: int
    only: list[str] | None
    records: list[Generation]
    origin: tuple[str, int] | None = None


class RecordsHead(msgspec.Struct):
    """A RECORDS entry read without decoding its records."""

    start: int
    records: list[msgspec.Raw]
    only: list[str] | None = None
    origin: tuple[str, int] | None = None


class Settled(msgspec.Struct):
    d: str
    runs: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Damage:
    offset: int
    end: int  # where reading went on (the file's size when nothing valid follows)
    reason: str

    def __repr__(self) -> str:
        return f"<Damage bytes {self.offset}..{self.end}: {self.reason}>"


def entry(kind: int, payload: bytes) -> bytes:
    """One framed entry, ready to append."""
    crc = zlib.crc32(payload, zlib.crc32(_LENGTH.pack(kind, len(payload))))
    return _HEADER.pack(MAGIC, kind, len(payload), crc) + payload


def entries(data: Any) -> Iterator[tuple[int, int, Any]]:
    """(offset, kind, payload bytes) of each intact entry of a segment's bytes (bytes or an mmap), in
    order, with (offset, DAMAGE, Damage) for each stretch that is not one."""
    size = len(data)
    if size and data[:4] != MAGIC:
        yield from _entries_v1(data, size)
        return
    pos = 0
    while pos < size:
        reason = _check(data, pos, size)
        if reason is None:
            _, kind, length, _ = _HEADER.unpack_from(data, pos)
            start = pos + _HEADER.size
            yield pos, kind, data[start : start + length]
            pos = start + length
            continue
        resume = _resync(data, pos + 1, size)
        yield pos, DAMAGE, Damage(pos, resume, reason)
        pos = resume


def _check(data: Any, pos: int, size: int) -> str | None:
    """None when a whole, intact entry starts at pos; else what is wrong."""
    if size - pos < _HEADER.size:
        return "a torn entry header"
    magic, kind, length, crc = _HEADER.unpack_from(data, pos)
    if magic != MAGIC:
        return "no entry marker"
    if kind not in _KINDS:
        return f"an unknown entry kind {kind}"
    if length > size - pos - _HEADER.size:
        return "an entry cut short" if length < 1 << 31 else f"an entry length of {length}"
    start = pos + _HEADER.size
    if zlib.crc32(data[start : start + length], zlib.crc32(_LENGTH.pack(kind, length))) != crc:
        return "a CRC mismatch"
    return None


def _resync(data: Any, pos: int, size: int) -> int:
    """The offset of the next intact entry from pos on, or size."""
    while True:
        pos = data.find(MAGIC, pos)
        if pos < 0:
            return size
        if _check(data, pos, size) is None:
            return pos
        pos += 1


def _entries_v1(data: Any, size: int) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    while pos < size:
        if size - pos < _HEADER_V1.size:
            yield pos, DAMAGE, Damage(pos, size, "a torn entry header (format 1)")
            return
        length, crc, kind = _HEADER_V1.unpack_from(data, pos)
        start = pos + _HEADER_V1.size
        payload = data[start : start + length] if length <= size - start else None
        if payload is None or zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc:
            yield pos, DAMAGE, Damage(pos, size, "a damaged entry (format 1: the rest is unreadable)")
            return
        yield pos, kind, payload
        pos = start + length
