"""OpenInference (Arize, Phoenix) LLM spans as record fields.

| record field | attributes read |
|---|---|
| (an LLM call) | openinference.span.kind = LLM (EMBEDDING: operation embeddings) |
| model, response_model | llm.invocation_parameters' "model", else llm.model_name; llm.model_name when it differs |
| (the plain keys below: KEYS) | |
| provider | llm.provider, else llm.system |
| prompt/completion/total tokens | llm.token_count.prompt / .completion / .total |
| cached, cache write, reasoning tokens | llm.token_count.prompt_details.cache_read / .cache_write, .completion_details.reasoning |
| input_cost, output_cost, total_cost | llm.cost.prompt / .completion / .total |
| model_parameters | llm.invocation_parameters (JSON) without model and stream; stream -> streamed |
| messages, prompt | input.value as JSON (a request body's "messages", or a list of messages); llm.input_messages.N.message.*; input.value as text |
| completion, tool_calls, finish_reason, id | output.value as JSON (a chat completion: choices[0], its id); llm.output_messages.0.message.*; output.value as text; llm.finish_reason |
| user, session_id, error_type | user.id (or the invocation's "user"), session.id, exception.type |
| trace metadata | metadata (JSON object), tag.tags as "tags" |
"""

from __future__ import annotations

from typing import Any

from . import messages as shapes
from .fields import Draft

__all__ = ["HEADS", "KEYS", "apply", "is_llm"]

#: the first segments of the keys this convention reads (mapping.py skips it when a span has none)
HEADS = frozenset({"openinference", "llm", "input", "output", "metadata", "tag"})

_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}


def is_llm(attrs: dict[str, Any]) -> str | None:
    kind = attrs.get("openinference.span.kind")
    return _KINDS.get(kind.upper()) if isinstance(kind, str) else None


#: Plain keys: attribute -> (record field, kind).
KEYS = {
    "llm.model_name": ("response_model", "str"),  # the model that answered; model comes from the invocation
    "llm.provider": ("provider", "str"),
    "llm.system": ("provider", "str"),
    "llm.token_count.prompt": ("prompt_tokens", "int"),
    "llm.token_count.completion": ("completion_tokens", "int"),
    "llm.token_count.total": ("total_tokens", "int"),
    "llm.token_count.prompt_details.cache_read": ("cached_tokens", "int"),
    "llm.token_count.prompt_details.cache_write": ("cache_write_tokens", "int"),
    "llm.token_count.completion_details.reasoning": ("reasoning_tokens", "int"),
    "llm.cost.prompt": ("input_cost", "float"),
    "llm.cost.completion": ("output_cost", "float"),
    "llm.cost.total": ("total_cost", "float"),
    "llm.finish_reason": ("finish_reason", "str"),
    "user.id": ("user", "str"),
    "session.id": ("session_id", "str"),
    "exception.type": ("error_type", "str"),
}


def apply(d: Draft) -> None:
    """The span kind, the invocation parameters (the requested model among them), messages, metadata, tags."""
    attrs = d.attrs
    kind = d.str("openinference.span.kind")
    if kind is not None and kind.upper() in _KINDS:
        d.put("operation", _KINDS[kind.upper()])
    if "llm.invocation_parameters" in attrs:
        params = d.json("llm.invocation_parameters")
        params = dict(params) if isinstance(params, dict) else {}
        requested = params.pop("model", None)
        if isinstance(requested, str) and requested:
            d.fields["model"] = requested  # over llm.model_name, which is the answering model
        stream = params.pop("stream", None)
        if isinstance(stream, bool):
            d.put("streamed", stream)
        if isinstance(params.get("user"), str):
            d.put("user", params["user"])
        d.put("model_parameters", params or None)
    _input(d)
    _output(d)
    if "metadata" in attrs:
        metadata = d.json("metadata")
        if isinstance(metadata, dict):
            for key, value in metadata.items():
                d.put_trace(key, value)
    tags = d.raw("tag.tags")
    if tags is not None:
        d.put_trace("tags", tags)


def _input(d: Draft) -> None:
    mime, value = d.str("input.mime_type"), d.raw("input.value")
    flat = d.prefixed("llm.input_messages.")
    if isinstance(value, str) and (mime == "application/json" or value[:1] in ("[", "{")):
        doc = d.json("input.value")
        found = doc.get("messages") if isinstance(doc, dict) else doc
        if isinstance(found, list) and all(isinstance(m, dict) for m in found):
            d.put("messages", shapes.from_parts(found))
        elif isinstance(doc, dict) and isinstance(doc.get("prompt"), str):
            d.put("prompt", doc["prompt"])
    if flat:
        d.put("messages", shapes.from_indexed(shapes.indexed(flat), "message."))
    if isinstance(value, str) and mime != "application/json" and "messages" not in d.fields:
        d.put("prompt", value)


def _output(d: Draft) -> None:
    mime, value = d.str("output.mime_type"), d.raw("output.value")
    flat = d.prefixed("llm.output_messages.")
    if isinstance(value, str) and (mime == "application/json" or value[:1] == "{"):
        doc = d.json("output.value")
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            if isinstance(message.get("content"), str):
                d.put("completion", message["content"])
            if isinstance(message.get("tool_calls"), list) and message["tool_calls"]:
                d.put("tool_calls", message["tool_calls"])
            d.put("finish_reason", choices[0].get("finish_reason") if isinstance(choices[0].get("finish_reason"), str) else None)
            d.put("id", doc.get("id") if isinstance(doc.get("id"), str) else None)
        elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and "function" in doc[0]:
            d.put("tool_calls", doc)  # an answer of tool calls only (spancast's openinference rendering)
    if flat:
        first = shapes.from_indexed(shapes.indexed(flat), "message.")
        if first:
            d.put("completion", first[0].get("content"))
            d.put("tool_calls", first[0].get("tool_calls"))
    if isinstance(value, str) and mime != "application/json" and value[:1] != "{":
        d.put("completion", value)
