"""The request envelope around the spans (resource, scope), shared by both encoders.

Computed once per encoder: the resource attributes and the instrumentation
scope do not change between batches, so only the lengths that depend on the
spans are worked out per request.
"""

from __future__ import annotations

from typing import Any

from .._version import __version__
from .wire import json_kv, json_quote, len_field, pb_kv, varint, varint_size

__all__ = ["Envelope", "SCOPE_NAME", "EMPTY_JSON"]

SCOPE_NAME = "spancast"
EMPTY_JSON = b'{"resourceSpans":[]}'


class Envelope:
    """ExportTraceServiceRequest > ResourceSpans > (Resource, ScopeSpans > (scope, spans...))."""

    def __init__(self, format: str, resource_attrs: list[tuple[str, tuple[str, Any]]], scope: str = SCOPE_NAME) -> None:
        self.format = format
        self.scope = scope
        self.resource_attrs = resource_attrs
        if format == "json":
            attrs = ",".join(json_kv(k, v) for k, v in resource_attrs)
            self.prefix = (
                '{"resourceSpans":[{"resource":{"attributes":['
                + attrs
                + ']},"scopeSpans":[{"scope":{"name":'
                + json_quote(scope)
                + ',"version":'
                + json_quote(__version__)
                + '},"spans":['
            ).encode()
            self.suffix = b"]}]}]}"
            self.resource_field = self.scope_field = b""
        else:
            resource = b"".join(len_field(0x0A, pb_kv(k, v)) for k, v in resource_attrs)
            scope_msg = len_field(0x0A, scope.encode()) + len_field(0x12, __version__.encode())
            self.resource_field = len_field(0x0A, resource)
            self.scope_field = len_field(0x0A, scope_msg)
            self.prefix = self.suffix = b""

    def size(self, body_len: int, nspans: int) -> int:
        """Exact size of the request whose spans take body_len bytes."""
        if nspans == 0:
            return len(EMPTY_JSON) if self.format == "json" else 0
        if self.format == "json":
            return len(self.prefix) + body_len + len(self.suffix)
        return len(self.head(body_len)) + body_len

    def head(self, body_len: int) -> bytes:
        """Everything before the spans of a non-empty request."""
        if self.format == "json":
            return self.prefix
        ss_len = len(self.scope_field) + body_len
        rs_len = len(self.resource_field) + 1 + varint_size(ss_len) + ss_len
        return b"".join((b"\x0a", varint(rs_len), self.resource_field, b"\x12", varint(ss_len), self.scope_field))

    def wrap(self, body: bytes, nspans: int) -> bytes:
        if nspans == 0:
            return EMPTY_JSON if self.format == "json" else b""
        return self.head(len(body)) + body + self.suffix

    def __repr__(self) -> str:
        return f"<Envelope format={self.format} resource_attrs={len(self.resource_attrs)}>"
