"""OTLP encoding of generation records; picks the native encoder or its pure-Python twin.

``SPANCAST_NO_EXTENSIONS=1`` forces the pure-Python twin. ``SPANCAST_IMPL=native``
demands the extension and raises :class:`~spancast.errors.NativeUnavailableError`
with the reason when it cannot load. Without either, the extension is used when
it was built; an extension that is present but fails to load is an error, never
a silent fallback.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, Protocol

from ..errors import NativeUnavailableError
from . import _py
from .plan import FLAVORS, Attr, AttributePlan, Op, get_plan

__all__ = [
    "FLAVORS",
    "IMPL",
    "Attr",
    "AttributePlan",
    "Op",
    "TraceEncoder",
    "TraceEncoderProtocol",
    "encode_traces",
    "get_plan",
    "implementation",
    "first_problem",
    "json_text",
    "record_bytes",
]

_TRUE = ("1", "true", "yes", "on")


class TraceEncoderProtocol(Protocol):
    """What both twins' TraceEncoder offer (the batcher appends and watches size)."""

    format: str
    records: int
    spans: int

    def append(self, record: Any, max_bytes: int = -1) -> int: ...
    def append_many(
        self, records: list, start: int, max_records: int, max_bytes: int, errors: list, media_from: int = ...
    ) -> tuple[int, str | None]: ...
    def extend(self, records: Iterable[Any]) -> None: ...
    def share_spans(self, caches: dict) -> Any: ...
    @property
    def size(self) -> int: ...
    def finish(self) -> bytes: ...
    def finish_view(self) -> Any: ...  # bytes-like: bytes, or the native twin's pooled Body
    def reset(self) -> None: ...


def _load_native() -> ModuleType:
    try:
        return importlib.import_module("spancast._native")
    except ImportError as exc:
        raise NativeUnavailableError(f"spancast._native cannot be loaded: {exc}") from exc


def implementation(name: str) -> ModuleType:
    """The encoder module by name: ``"native"`` (the extension) or ``"python"`` (the twin)."""
    if name == "python":
        return _py
    if name == "native":
        return _load_native()
    raise ValueError(f"unknown implementation {name!r}; expected 'native' or 'python'")


def _select() -> tuple[str, ModuleType]:
    wanted = os.environ.get("SPANCAST_IMPL", "auto").strip().lower() or "auto"
    no_ext = os.environ.get("SPANCAST_NO_EXTENSIONS", "").strip().lower() in _TRUE
    if wanted not in ("auto", "native", "python"):
        raise ValueError(f"SPANCAST_IMPL={wanted!r}: expected auto, native or python")
    if wanted == "native" and no_ext:
        raise NativeUnavailableError("SPANCAST_IMPL=native contradicts SPANCAST_NO_EXTENSIONS=1")
    if wanted == "python" or no_ext:
        return "python", _py
    if wanted == "native":
        return "native", _load_native()
    try:
        return "native", importlib.import_module("spancast._native")
    except ModuleNotFoundError as exc:
        if exc.name != "spancast._native":
            raise NativeUnavailableError(f"spancast._native cannot be loaded: {exc}") from exc
        return "python", _py  # built with SPANCAST_NO_EXTENSIONS=1: there is no extension to load
    except ImportError as exc:
        raise NativeUnavailableError(f"spancast._native is installed but cannot be loaded: {exc}") from exc


IMPL, _impl = _select()
TraceEncoder = _impl.TraceEncoder
#: record -> estimated bytes it holds while queued (the intake and the backlog bound memory with it)
record_bytes = _impl.record_bytes
#: (value, field) -> the canonical JSON text of a free-form value (values.json_text), as both encoders'
#: flavour shapes write it; EncodeError naming the field for what JSON cannot hold
json_text = _impl.json_text
#: records -> the index of the first one record_checks.check refuses, -1 when none: whether decode_records'
#: one-call path may keep a body's records as decoded (the Python twin: record_checks.first_problem)
first_problem = _impl.first_problem


def encode_traces(
    records: Iterable[Any],
    *,
    format: str = "protobuf",
    flavor: str | AttributePlan = "gen_ai",
    resource: Mapping[str, Any] | None = None,
) -> bytes:
    """Encode records into one OTLP ExportTraceServiceRequest, as protobuf or OTLP JSON bytes."""
    return _impl.encode_traces(records, format=format, flavor=flavor, resource=resource)
