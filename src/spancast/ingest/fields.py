"""The draft record the conventions fill from one span's attributes: typed reads that name the attribute.

Plain attributes are read in one pass over the span (mapping.py): each convention's KEYS table says which
record field a key fills and how its value is typed (KINDS); where several keys fill one field, the
first listed (and the first convention, in mapping.CONVENTIONS' order) wins. What takes more than a
key (messages, parameters, metadata) each convention's apply() reads through a Draft:
``draft.int("gen_ai.usage.input_tokens")`` returns the value (or None), marks the key used, and raises
SpanProblem naming the key when the value has the wrong type; ``draft.put(field, value)`` sets a field
unless something before it did.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from .spans import SpanIn, SpanProblem

__all__ = ["Draft", "KINDS"]


class Draft:
    __slots__ = ("attrs", "fields", "heads", "span", "trace", "used")

    def __init__(self, span: SpanIn) -> None:
        self.span = span
        self.attrs = span.attrs
        self.fields: dict[str, Any] = {}
        self.trace: dict[str, Any] = {}
        self.used: set[str] = set()
        #: the keys by their first dotted segment ("gen_ai", "llm", ...): which conventions and prefixes to look at
        self.heads: dict[str, list[str]] = {}
        for key in span.attrs:
            self.heads.setdefault(key.partition(".")[0], []).append(key)

    # ------------------------------------------------------------ reading attributes

    def raw(self, key: str) -> Any:
        value = self.attrs.get(key)
        if value is not None:
            self.used.add(key)
        return value

    def str(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return repr(value)
        raise SpanProblem(key, f"expected a string, got {type(value).__name__}")

    def int(self, key: str) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool):
            raise SpanProblem(key, "expected an integer, got a boolean")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and "_" not in value:
            try:  # int() itself decides ("--5", "²" and 5,000 digits are refused), never an escaping ValueError
                return int(value)
            except ValueError:
                pass
        raise SpanProblem(key, f"expected an integer, got {type(value).__name__}")

    def float(self, key: str) -> float | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, bool):
            raise SpanProblem(key, "expected a number, got a boolean")
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise SpanProblem(key, "expected a number") from None
        else:
            raise SpanProblem(key, f"expected a number, got {type(value).__name__}")
        if not math.isfinite(number):
            raise SpanProblem(key, "not a finite number")
        return number

    def bool(self, key: str) -> bool | None:
        value = self.raw(key)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SpanProblem(key, f"expected a boolean, got {type(value).__name__}")

    def json(self, key: str) -> Any:
        """A structured attribute: JSON text (as conventions put it on spans) or an OTLP array / kvlist."""
        value = self.raw(key)
        if isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                raise SpanProblem(key, "expected JSON text") from None
        return value

    def prefixed(self, prefix: str) -> dict[str, Any]:
        """{rest of key: value} of the attributes whose keys start with prefix (marked used)."""
        keys = self.heads.get(prefix.partition(".")[0])
        if not keys:
            return {}
        n, attrs = len(prefix), self.attrs
        found = {key[n:]: attrs[key] for key in keys if key.startswith(prefix) and len(key) > n}
        self.used.update(prefix + key for key in found)
        return found

    def read(self, kind: str, key: str) -> Any:
        """The value of key as KINDS[kind] reads it."""
        return KINDS[kind](self, key)

    # ------------------------------------------------------------ writing the record

    def put(self, field: str, value: Any) -> None:
        if value is not None and self.fields.get(field) is None:
            self.fields[field] = value

    def put_trace(self, key: str, value: Any) -> None:
        if value is not None and key not in self.trace:
            self.trace[key] = value

    def __repr__(self) -> str:
        return f"<Draft span={self.span.index} fields={sorted(self.fields)} trace={len(self.trace)} used={len(self.used)}>"


def _seconds_as_ms(draft: Draft, key: str) -> float | None:
    seconds = draft.float(key)
    return None if seconds is None else seconds * 1000.0


#: How a KEYS entry's value is read: kind -> reader(draft, key).
KINDS = {"str": Draft.str, "int": Draft.int, "float": Draft.float, "bool": Draft.bool, "s_to_ms": _seconds_as_ms}
