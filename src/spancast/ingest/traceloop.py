"""Traceloop / OpenLLMetry spans: what they send beside the GenAI conventions (genai.py reads the rest).

| record field | attributes read |
|---|---|
| (an LLM call) | llm.request.type (chat, completion, embedding) or traceloop.span.kind = llm |
| prompt/completion/total tokens | llm.usage.prompt_tokens / .completion_tokens / .total_tokens (older releases) |
| cached, reasoning tokens | gen_ai.usage.cache_read_input_tokens, llm.usage.reasoning_tokens |
| streamed | llm.is_streaming |
| user, session_id | traceloop.association.properties.user_id / .session_id |
| trace metadata | the other traceloop.association.properties.*; traceloop.entity.name / .workflow.name |
"""

from __future__ import annotations

from typing import Any

from .fields import Draft

__all__ = ["HEADS", "KEYS", "apply", "is_llm"]

#: the first segments of the keys this convention reads (mapping.py skips it when a span has none)
HEADS = frozenset({"llm", "traceloop"})

_TYPES = {"chat": "chat", "completion": "completion", "embedding": "embeddings", "rerank": None}


def is_llm(attrs: dict[str, Any]) -> str | None:
    kind = attrs.get("llm.request.type")
    if isinstance(kind, str):
        return _TYPES.get(kind)
    if attrs.get("traceloop.span.kind") == "llm":
        return "chat"
    return None


#: Plain keys: attribute -> (record field, kind).
KEYS = {
    "llm.usage.prompt_tokens": ("prompt_tokens", "int"),
    "llm.usage.completion_tokens": ("completion_tokens", "int"),
    "llm.usage.total_tokens": ("total_tokens", "int"),
    "llm.usage.reasoning_tokens": ("reasoning_tokens", "int"),
    "llm.is_streaming": ("streamed", "bool"),
}


def apply(d: Draft) -> None:
    kind = d.str("llm.request.type")
    if kind in _TYPES and _TYPES[kind]:
        d.put("operation", _TYPES[kind])
    d.str("traceloop.span.kind")
    props = d.prefixed("traceloop.association.properties.")
    d.put("user", props.pop("user_id", None))
    d.put("session_id", props.pop("session_id", None))
    for key, value in props.items():
        d.put_trace(key, value)
    for key, name in (("traceloop.workflow.name", "workflow"), ("traceloop.entity.name", "entity")):
        value = d.str(key)
        if value is not None:
            d.put_trace(name, value)
