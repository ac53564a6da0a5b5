"""How many bytes a record holds in memory, estimated (the pure-Python twin of native/sizing.pxi)."""

from __future__ import annotations

from typing import Any

from ..record import Generation

__all__ = ["record_bytes"]

# The numbers are an estimate of what a queued record keeps alive, not sys.getsizeof: text counts
# one byte per character, containers a fixed overhead per entry. The native twin returns the same
# integer for every input, so the intake's bound does not depend on which one is live.
RECORD_BASE = 512
TEXT_BASE = 16
DICT_BASE = 64
LIST_BASE = 32
ENTRY = 8
OTHER = 16
DEEP = 256  # a value nested deeper than MAX_DEPTH counts as this much, unwalked
MAX_DEPTH = 6
ATTEMPT = 128
NOT_A_RECORD = 1024


def _value_bytes(v: Any, depth: int) -> int:
    if type(v) is str:
        return TEXT_BASE + len(v)
    if depth >= MAX_DEPTH:
        return DEEP
    if type(v) is dict:
        n = DICT_BASE
        for key, item in v.items():
            n += ENTRY + (len(key) if type(key) is str else OTHER) + _value_bytes(item, depth + 1)
        return n
    if type(v) is list or type(v) is tuple:
        n = LIST_BASE
        for item in v:
            n += ENTRY + _value_bytes(item, depth + 1)
        return n
    return OTHER


def record_bytes(record: Any) -> int:
    """An estimate of the memory a queued record holds (content characters plus fixed overheads)."""
    if not isinstance(record, Generation):
        return NOT_A_RECORD
    n = RECORD_BASE
    for text in (record.error_message, record.prompt, record.completion, record.reasoning):
        if type(text) is str:
            n += len(text)
    for value in (record.messages, record.tool_calls, record.model_parameters, record.trace):
        if value is not None:
            n += _value_bytes(value, 0)
    attempts = record.provider_attempts
    if type(attempts) is list:
        n += ATTEMPT * len(attempts)
    return n
