"""The checks and canonical forms of record values the encoders apply: public, for destinations that write
records their own way (ClickHouse's rows), so that they fail and write exactly as the OTLP encoders do.

Each check returns the value as the encoders take it, or raises EncodeError naming the field.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import EncodeError
from .wire import json_quote, utf8

__all__ = ["plain_messages", "json_text", "typed_value", "plain_value", "check_text", "check_int64", "check_double", "check_mapping", "check_time_ns",
           "id_text", "given_id", "INT64_MIN", "INT64_MAX", "ORIGINAL_TRACE_ID", "ORIGINAL_PARENT_ID"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_JSON_DEPTH = 256
_M64 = 0xFFFFFFFFFFFFFFFF
_HEX = frozenset("0123456789abcdefABCDEF")
#: Attributes that keep a trace's own id where it is not a W3C id (the span then carries a derived one).
ORIGINAL_TRACE_ID = "spancast.original_trace_id"
ORIGINAL_PARENT_ID = "spancast.original_parent_span_id"


def plain_messages(messages: Any) -> bool:
    """True when no message can hold media (every content a plain string or absent, no audio): the routes'
    fast path (spancast.routing.media), here so that the encoders' append_many can check records as it encodes them."""
    if messages.__class__ is not list:
        return False
    for message in messages:
        if message.__class__ is not dict:
            return False
        content = message.get("content")
        if content.__class__ is str:
            if content[:5] == "data:":
                return False
        elif content is not None:
            return False
        if "audio" in message:
            return False
    return True


# ---------------------------------------------------------------- canonical JSON of free values


def _json_parts(value: Any, field: str, depth: int, out: list[str]) -> None:
    if depth > MAX_JSON_DEPTH:
        raise EncodeError(field, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(json_quote(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(float.__repr__(value) if math.isfinite(value) else "null")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _json_parts(item, field, depth + 1, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for k, v in value.items():
            if not isinstance(k, str):
                raise EncodeError(field, f"object key {k!r} is not a string")
            if not first:
                out.append(",")
            first = False
            out.append(json_quote(k))
            out.append(":")
            _json_parts(v, field, depth + 1, out)
        out.append("}")
    else:
        raise EncodeError(field, f"unsupported type {type(value).__name__}")


def json_text(value: Any, field: str = "value") -> str:
    """The canonical JSON text spancast writes for a free-form value (compact, non-finite -> null)."""
    out: list[str] = []
    _json_parts(value, field, 1, out)
    return "".join(out)


# ---------------------------------------------------------------- typed values (tagged tuples)

# ("s", utf8 bytes) | ("b", bool) | ("i", int) | ("d", float) | ("a", [values]) | ("n", None)


def typed_value(value: Any, field: str) -> tuple[str, Any]:
    """The AnyValue a free-form value becomes (see the table in plan.py)."""
    if value is None:
        return ("n", None)
    if value is True or value is False:
        return ("b", value)
    if isinstance(value, str):
        return ("s", utf8(value))
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return ("i", int(value))
        return ("s", int.__repr__(value).encode())
    if isinstance(value, float):
        return ("d", float(value))
    if isinstance(value, (list, tuple, dict)):
        return ("s", utf8(json_text(value, field)))
    raise EncodeError(field, f"unsupported type {type(value).__name__}")


def plain_value(typed: tuple[str, Any]) -> Any:
    """A typed value ("s", utf8 bytes) / ("a", [...]) / ... as a plain JSON value (rows that store JSON)."""
    kind, value = typed
    if kind == "s":
        return value.decode("utf-8")
    if kind == "a":
        return [plain_value(item) for item in value]
    return value  # b, i, d, n


def check_text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    raise EncodeError(field, f"expected str, got {type(value).__name__}")


def check_int64(value: Any, field: str) -> int:
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return int(value)
    if isinstance(value, int):
        raise EncodeError(field, "integer out of the int64 range")
    raise EncodeError(field, f"expected int, got {type(value).__name__}")


def check_double(value: Any, field: str) -> float:
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            raise EncodeError(field, "integer too large for a double") from None
    raise EncodeError(field, f"expected float, got {type(value).__name__}")


def check_mapping(value: Any, field: str) -> Mapping[str, Any]:
    if isinstance(value, dict):
        return value
    raise EncodeError(field, f"expected an object, got {type(value).__name__}")


def check_time_ns(value: Any, field: str) -> int:
    if isinstance(value, int) and 0 <= value <= _M64:
        return int(value)
    raise EncodeError(field, "expected an int in [0, 2**64)")


# ---------------------------------------------------------------- ids given in a trace


def id_text(trace: Mapping[str, Any] | None, key: str) -> str | None:
    """A trace key that names something (an id or a name), as every renderer reads it: a string, an integer
    written in decimal, or None when absent; an empty string is absent (an empty trace_id groups nothing,
    an empty parent_span_id names no span)."""
    if trace is None:
        return None
    value = trace.get(key)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__repr__(value)
    raise EncodeError(f"trace.{key}", f"expected str, got {type(value).__name__}")


def draws_trace_root(trace_name: str | None, trace_id: str | None, parent_span_id: str | None, name: str) -> bool:
    """The span tree's rule (README "The span tree"), for every renderer that draws one: a record that names
    its trace or shares it gets the trace's root span, unless it hangs under a caller's span (whose trace has
    its root) or the root would only repeat the generation's name."""
    return (parent_span_id is None and bool(trace_name or trace_id is not None)
            and not (trace_name and trace_name == name))


def given_id(text: str, nhex: int) -> bytes | None:
    """The id as bytes when the text is a valid, non-zero W3C id of nhex hex digits."""
    if len(text) == nhex and all(c in _HEX for c in text):
        raw = bytes.fromhex(text)
        if any(raw):
            return raw
    return None
