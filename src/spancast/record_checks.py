"""What decoding lets through but some destination would refuse, checked at the door: a record that passes is one every encoder takes.

The limits, and which encoder sets each:

- free-form values (``trace``, ``model_parameters``, ``messages``, ``tool_calls``) nested at most
  MAX_NESTING levels: orjson (the event and object-store destinations) stops at 254 levels, its own
  envelope included, and the OTLP and row encoders at 256;
- integers inside them within int64..uint64: orjson writes no wider ones;
- ``total_tokens`` (given, or prompt + completion) at most 2**63 - 1: every encoder writes an int64;
- times up to 2106-02-07 06:28:15 UTC: ClickHouse's DateTime, and the row destinations alike.

tests/test_record_checks.py sends what passes, and what just fails, through every destination's encoder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FREE_FIELDS", "MAX_NESTING", "array_items", "check", "first_problem", "too_deep_field"]

MAX_NESTING = 128
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
COUNT_MAX = 2**63 - 1
TIME_MAX_NS = (2**32 - 1) * 10**9 + 999_999_999
FREE_FIELDS = ("trace", "model_parameters", "messages", "tool_calls")


def check(record: Any) -> tuple[str, str] | None:
    """(field, reason) of the first thing in a decoded record that some destination would refuse, or None."""
    total = record.total_tokens
    if total is not None and total > COUNT_MAX:
        return "total_tokens", f"{total} is over 2**63 - 1 (prompt_tokens + completion_tokens when not given)"
    for name in ("start_time_ns", "end_time_ns"):
        if getattr(record, name) > TIME_MAX_NS:
            return name, "after 2106-02-07 06:28:15 UTC, later than row destinations (ClickHouse DateTime) hold"
    for name in FREE_FIELDS:
        value = getattr(record, name)
        if value is not None:
            problem = _walk(value, name, 1)
            if problem is not None:
                return problem
    return None


def first_problem(records: Iterable[Any]) -> int:
    """The index of the first record check() refuses, -1 when it takes them all (the Python twin of the
    native scan the selector in spancast.codec picks: decode_records' one-call path asks it of a whole body)."""
    for index, record in enumerate(records):
        if check(record) is not None:
            return index
    return -1


def _walk(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    """The first problem in a free-form value that is the depth-th container from its field down."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
            return path, "an integer wider than 64 bits"
        return None
    if depth > MAX_NESTING:
        return path, f"nested deeper than {MAX_NESTING} levels"
    for key, item in items:
        if isinstance(item, (dict, list, int)):
            where = path if depth >= 3 else f"{path}.{key}" if isinstance(value, dict) else f"{path}[{key}]"
            found = _walk(item, where, depth + 1)
            if found is not None:
                return found
    return None


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def too_deep_field(raw: bytes) -> str | None:
    """The top-level key of a JSON object whose value nests past MAX_NESTING (for input too deep to decode)."""
    depth, key = 0, None
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token[:1] == b'"':
            if depth == 1:  # at the top level, the string before an opening bracket is its key
                key = token[1:-1].decode("utf-8", "replace")
        elif token in (b"[", b"{"):
            depth += 1
            if depth > MAX_NESTING + 1:
                return key
        elif token != b",":
            depth -= 1
    return None


def array_items(raw: bytes) -> list[bytes]:
    """The elements of a JSON array, as bytes, without decoding them (for an array too deep to decode
    whole: each element is then decoded, and refused, on its own)."""
    items: list[bytes] = []
    depth, start = 0, None
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth == 1:
                start = match.end()
        elif token in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                items.append(raw[start:match.start()])
                break
        elif token == b"," and depth == 1:
            items.append(raw[start:match.start()])
            start = match.end()
    return [item for item in items if item.strip()]
