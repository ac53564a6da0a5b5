"""OpenRouter's Broadcast payload (and spancast's own trace.metadata.* keys) back into the record.

From OpenRouter's documentation of the payload (broadcast, webhook, otel-collector and grafana pages),
and the keys receivers are seen to read (notes/issue14/openrouter_payload.md):

| record field | attributes read |
|---|---|
| (an LLM call) | span.type = GENERATION, or the gen_ai keys genai.py reads |
| trace["trace_name"] | trace.name |
| trace (custom metadata) | trace.metadata.<key>, as <key> (OpenRouter's own openrouter.* keys included, except those below) |
| api_key_name | trace.metadata.openrouter.api_key_name |
| provider | trace.metadata.openrouter.provider_name, when the gen_ai keys named none (kept as metadata when they named another) |
| native_finish_reason | trace.metadata.openrouter.finish_reason |
| time_to_first_token_ms | trace.metadata.openrouter.first_token_ms |
| status | span.level = ERROR |

Copies OpenRouter sends beside the same values (trace.input / span.input / trace.output / span.output,
span.metadata.*, openrouter.source, span.type) are read and left out of the metadata.
"""

from __future__ import annotations

from typing import Any

from .fields import Draft

__all__ = ["HEADS", "KEYS", "apply", "is_llm"]

#: the first segments of the keys this convention reads (mapping.py skips it when a span has none)
HEADS = frozenset({"trace", "span", "openrouter"})

_COPIES = ("trace.input", "span.input", "trace.output", "span.output", "openrouter.source", "span.type")


def is_llm(attrs: dict[str, Any]) -> str | None:
    kind = attrs.get("span.type")
    return "chat" if isinstance(kind, str) and kind.upper() == "GENERATION" else None


KEYS: dict[str, tuple[str, str]] = {}  # every key here takes more than a table entry: apply() reads them


def apply(d: Draft) -> None:
    for key in _COPIES:
        d.raw(key)
    d.prefixed("span.metadata.")
    d.put_trace("trace_name", d.str("trace.name"))
    if (d.str("span.level") or "").upper() == "ERROR":
        d.put("status", "error")
    metadata = d.prefixed("trace.metadata.")
    d.put("api_key_name", _text(metadata.pop("openrouter.api_key_name", None)))
    d.put("native_finish_reason", _text(metadata.pop("openrouter.finish_reason", None)))
    first_token = metadata.pop("openrouter.first_token_ms", None)
    if isinstance(first_token, (int, float)) and not isinstance(first_token, bool):
        d.put("time_to_first_token_ms", float(first_token))
    provider = metadata.get("openrouter.provider_name")
    if isinstance(provider, str) and d.fields.get("provider") in (None, provider):
        d.put("provider", metadata.pop("openrouter.provider_name"))
    for key, value in metadata.items():
        d.put_trace(key, value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
