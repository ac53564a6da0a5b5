"""The generic OTLP/HTTP traces destination (``otel-collector``): the full endpoint URL, headers, encoding.

Vendor presets (Grafana, Langfuse, ...) are thin layers over this one: endpoint composition, auth
headers and an attribute flavour. A 200 may carry an ExportTraceServiceResponse whose
partial_success says how many spans were rejected; that is counted, not retried.

ExportTraceServiceResponse wire format (read here without protobuf objects):
    1 partial_success (LEN) -> 1 rejected_spans (VARINT, int64)   2 error_message (LEN)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Mapping
from urllib.parse import urlsplit

import msgspec
import orjson

from ..codec import TraceEncoder
from ..errors import ConfigError
from ..pipeline.retry import Action, Decision, decide
from ._secret import merge_headers
from .base import CommonSettings, Destination, Request

__all__ = ["OtlpSettings", "OtlpDestination", "partial_success"]

CONTENT_TYPES = {"protobuf": "application/x-protobuf", "json": "application/json"}
FLAVOR_HELP = ("attribute conventions: gen_ai (OpenTelemetry GenAI), openinference (Arize, Phoenix) or openrouter"
               " (OpenRouter's own payload, for receivers built on it)")


class OtlpSettings(CommonSettings, kw_only=True, forbid_unknown_fields=True):
    endpoint: Annotated[str, msgspec.Meta(
        description="the full OTLP/HTTP traces URL, nothing appended (e.g. http://collector:4318/v1/traces)",
    )]
    encoding: Annotated[Literal["protobuf", "json"] | None, msgspec.Meta(
        description="OTLP body encoding: protobuf or json (none: json for flavor openrouter, as OpenRouter sends; else protobuf)",
    )] = None
    flavor: Annotated[Literal["gen_ai", "openinference", "openrouter"], msgspec.Meta(
        description=FLAVOR_HELP,
    )] = "gen_ai"
    resource: Annotated[dict[str, Any], msgspec.Meta(
        description="extra OTLP resource attributes on every request (service.name defaults to spancast)",
    )] = {}


def check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if "@" in parts.netloc:  # credentials in a URL end up in reprs and logs: they belong in the settings
        raise ConfigError(where, "must not carry credentials (user:password@): use the destination's credential settings")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        # the URL itself is not repeated: a webhook's may carry its token
        raise ConfigError(where, f"expected an http(s) URL with a host (scheme given: {parts.scheme or 'none'!r})")


class OtlpDestination(Destination):
    """POSTs ExportTraceServiceRequests to one full traces URL (nothing is appended to it)."""

    type = "otel-collector"
    settings_class = OtlpSettings

    def validate(self, where: str) -> None:
        check_url(self.settings.endpoint, f"{where}.endpoint")

    @property
    def url(self) -> str:
        return self.settings.endpoint

    @property
    def encoding(self) -> str:
        if self.settings.encoding is not None:
            return self.settings.encoding
        return "json" if self.settings.flavor == "openrouter" else "protobuf"

    def new_encoder(self, format: str | None = None) -> TraceEncoder:
        """An encoder for this destination's rendering (format: the encoding to use instead, for previews)."""
        s = self.settings
        return TraceEncoder(format=format or self.encoding, flavor=s.flavor, resource=s.resource or None,
                            id_salt=self.id_salt)

    def request(self, body: bytes) -> Request:
        # A user header named Content-Type (in any case) would go out beside ours: ours wins.
        headers = merge_headers(self.settings.headers, {"Content-Type": CONTENT_TYPES[self.encoding]})
        return Request("POST", self.url, headers, body)

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Decision:
        decision = decide(status, headers, retryable=self.retryable)
        if decision.action is Action.DELIVERED and body:
            rejected, message = partial_success(body, headers.get("Content-Type", ""))
            if rejected:
                return Decision(Action.DELIVERED, status, rejected_spans=rejected, reason=message)
        return decision


def partial_success(body: bytes, content_type: str) -> tuple[int, str]:
    """(rejected spans, message) of an ExportTraceServiceResponse; (0, "") when there is none or it is unreadable."""
    try:
        if "json" in content_type:
            doc = orjson.loads(body).get("partialSuccess") or {}
            return int(doc.get("rejectedSpans") or 0), str(doc.get("errorMessage") or "")
        return _pb_partial(body)
    except (ValueError, TypeError, AttributeError, IndexError):
        return 0, ""


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message; LEN values as bytes."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i : i + size], i + size
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _pb_partial(body: bytes) -> tuple[int, str]:
    rejected, message = 0, ""
    for number, wire, value in _fields(body):
        if number == 1 and wire == 2:
            for inner, inner_wire, inner_value in _fields(value):
                if inner == 1 and inner_wire == 0:
                    rejected = inner_value - (1 << 64) if inner_value >= 1 << 63 else inner_value
                elif inner == 2 and inner_wire == 2:
                    message = inner_value.decode("utf-8", "replace")
    return max(rejected, 0), message
