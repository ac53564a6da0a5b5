"""Wire primitives shared by the pure-Python encoder and the request envelope: varints, AnyValues, JSON strings."""

from __future__ import annotations

import math
import struct
from json.encoder import encode_basestring as json_quote  # type: ignore[attr-defined]
from typing import Any

__all__ = ["utf8", "varint", "varint_size", "len_field", "pb_any", "pb_kv", "json_quote", "json_any", "json_kv"]

_M64 = 0xFFFFFFFFFFFFFFFF


def varint_size(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, only possible from records built in Python
        return s.encode("utf-8", "replace")


def varint(n: int) -> bytes:
    n &= _M64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def len_field(tag: int, payload: bytes) -> bytes:
    return bytes((tag,)) + varint(len(payload)) + payload


def pb_any(value: tuple[str, Any]) -> bytes:
    kind, v = value
    if kind == "s":
        return len_field(0x0A, v)
    if kind == "b":
        return b"\x10\x01" if v else b"\x10\x00"
    if kind == "i":
        return b"\x18" + varint(v)
    if kind == "d":
        return b"\x21" + struct.pack("<d", v)
    if kind == "a":
        return len_field(0x2A, b"".join(len_field(0x0A, pb_any(item)) for item in v))
    return b""


def pb_kv(key: str, value: tuple[str, Any]) -> bytes:
    return len_field(0x0A, utf8(key)) + len_field(0x12, pb_any(value))


def json_any(value: tuple[str, Any]) -> str:
    kind, v = value
    if kind == "s":
        return '{"stringValue":' + json_quote(v.decode("utf-8")) + "}"
    if kind == "b":
        return '{"boolValue":true}' if v else '{"boolValue":false}'
    if kind == "i":
        return '{"intValue":"' + str(v) + '"}'
    if kind == "d":
        if math.isfinite(v):
            return '{"doubleValue":' + float.__repr__(v) + "}"
        return '{"doubleValue":"' + ("NaN" if v != v else "Infinity" if v > 0 else "-Infinity") + '"}'
    if kind == "a":
        return '{"arrayValue":{"values":[' + ",".join(json_any(item) for item in v) + "]}}"
    return "{}"


def json_kv(key: str, value: tuple[str, Any]) -> str:
    return '{"key":' + json_quote(key) + ',"value":' + json_any(value) + "}"


