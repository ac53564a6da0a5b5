"""Derived values some flavours send: GenAI message parts, OpenAI chat shapes, vendors' usage and cost objects.

Each function takes one record and returns the value of one attribute (None: the attribute is left out).
Both encoders call the same functions (the plan's PYFUNC steps, and the parts of GENAI_INPUT /
GENAI_OUTPUT that need a JSON parser), so their bytes stay identical. JSON texts are canonical
(``values.json_text``, or its native twin where the extension is built: compact, insertion order,
non-finite numbers as null).

The OpenTelemetry GenAI message shapes follow the conventions' JSON schemas
(``gen-ai-input-messages.json`` / ``gen-ai-output-messages.json`` of semantic-conventions v1.41.0, kept
in open-telemetry/semantic-conventions-genai since): a message is ``{"role", "parts": [...]}``, a part
``{"type": "text", "content"}``, ``{"type": "tool_call", "id", "name", "arguments"}``,
``{"type": "tool_call_response", "id", "response"}`` or ``{"type": "reasoning", "content"}``; an output
message carries ``finish_reason`` (required in v1.41, which Phoenix validates against).
"""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = [
    "tool_arguments", "finish_reason", "genai_input", "genai_output", "assistant_message", "chat_choices",
    "langsmith_outputs", "langfuse_usage", "langfuse_cost", "completion_start_iso", "mlflow_usage", "langsmith_token_details",
    "openinference_metadata", "member", "openrouter_generation", "OPENROUTER_GENERATION_KEYS",
]

#: The record's normalised finish reasons as the GenAI conventions spell them (others pass as they are).
FINISH_REASONS = {"tool_calls": "tool_call"}


_json_text: Any = None


def _json(value: Any, field: str = "value") -> str:
    # The selected implementation's writer (spancast.codec.json_text: the native one where it is built), for
    # both encoders: this text is most of what the vendor flavours cost. Bound on first use, as spancast.codec
    # imports this module before it has chosen; tests/test_json_text.py holds the two writers to each other.
    global _json_text
    if _json_text is None:
        from . import json_text as _json_text
    return _json_text(value, field)


def tool_arguments(value: Any) -> Any:
    """A tool call's arguments as the conventions want them: the JSON object (or array) the text holds,
    else the text as it is (or a non-text value as it is)."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return parsed if isinstance(parsed, (dict, list)) else value
    return value


def finish_reason(rec: Any) -> str:
    """The output message's finish reason: the record's, in the conventions' spelling; without one,
    ``error`` for a failed call, ``tool_call`` for an answer of tool calls only, else ``stop``.
    (The native encoder writes the same, inline.)"""
    if isinstance(rec.finish_reason, str):
        return FINISH_REASONS.get(rec.finish_reason, rec.finish_reason)
    if rec.status == "error":
        return "error"
    return "tool_call" if rec.tool_calls and rec.completion is None else "stop"


def _tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    parts = []
    if isinstance(tool_calls, list):
        for call in tool_calls:
            if not isinstance(call, dict):
                continue
            part: dict[str, Any] = {"type": "tool_call"}
            if isinstance(call.get("id"), str):
                part["id"] = call["id"]
            fn = call.get("function")
            fn = fn if isinstance(fn, dict) else {}
            part["name"] = fn["name"] if isinstance(fn.get("name"), str) else ""
            if fn.get("arguments") is not None:
                part["arguments"] = tool_arguments(fn["arguments"])
            parts.append(part)
    return parts


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):  # OpenAI content parts: text parts become text, others pass as they are
        parts = []
        for item in content:
            if isinstance(item, dict):
                if item.get("type") == "text" and isinstance(item.get("text"), str):
                    parts.append({"type": "text", "content": item["text"]})
                elif isinstance(item.get("type"), str):
                    parts.append(item)
        return parts
    if content is None:
        return []
    return [{"type": "text", "content": _json(content, "messages")}]


def genai_input(rec: Any) -> list[dict[str, Any]] | None:
    """``gen_ai.input.messages``: the chat messages as role + parts (a tool message's content is the
    response to its tool call), or the prompt as one user message."""
    if isinstance(rec.messages, list):
        out = []
        for msg in rec.messages:
            if not isinstance(msg, dict):
                continue
            role = msg.get("role") if isinstance(msg.get("role"), str) else "user"
            if role == "tool":
                part: dict[str, Any] = {"type": "tool_call_response"}
                if isinstance(msg.get("tool_call_id"), str):
                    part["id"] = msg["tool_call_id"]
                part["response"] = msg.get("content")
                parts = [part]
            else:
                parts = _content_parts(msg.get("content")) + _tool_call_parts(msg.get("tool_calls"))
            message: dict[str, Any] = {"role": role, "parts": parts}
            if isinstance(msg.get("name"), str):
                message["name"] = msg["name"]
            out.append(message)
        return out
    if isinstance(rec.prompt, str):
        return [{"role": "user", "parts": [{"type": "text", "content": rec.prompt}]}]
    return None


def genai_output(rec: Any) -> list[dict[str, Any]] | None:
    """``gen_ai.output.messages``: one assistant message of reasoning, text and tool-call parts, with its
    finish reason; None when the record has no output."""
    parts: list[dict[str, Any]] = []
    if isinstance(rec.reasoning, str):
        parts.append({"type": "reasoning", "content": rec.reasoning})
    if isinstance(rec.completion, str):
        parts.append({"type": "text", "content": rec.completion})
    parts += _tool_call_parts(rec.tool_calls)
    if not parts:
        return None
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason(rec)}]


def assistant_message(rec: Any) -> dict[str, Any] | None:
    """The answer as one OpenAI chat message (``role``, ``content``, ``tool_calls``, ``reasoning``)."""
    if rec.completion is None and not rec.tool_calls and rec.reasoning is None:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": rec.completion}
    if rec.tool_calls:
        message["tool_calls"] = rec.tool_calls
    if rec.reasoning is not None:
        message["reasoning"] = rec.reasoning
    return message


def assistant_json(rec: Any) -> str | None:
    message = assistant_message(rec)
    return None if message is None else _json(message)


def chat_choices(rec: Any) -> str | None:
    """The answer in OpenAI's chat-completion shape, ``{"choices": [{"index", "message", "finish_reason"}]}``,
    which LangSmith and MLflow render as a chat."""
    message = assistant_message(rec)
    if message is None:
        return None
    choice: dict[str, Any] = {"index": 0, "message": message}
    if rec.finish_reason is not None:
        choice["finish_reason"] = rec.finish_reason
    return _json({"choices": [choice]})


def langsmith_outputs(rec: Any) -> str | None:
    """LangSmith's ``gen_ai.completion``: the run's outputs, the answer in OpenAI's chat shape plus
    ``usage_metadata`` (tokens with their cache and reasoning breakdowns, costs in USD), as LangSmith's own
    SDK sends an llm run's outputs over OTel (its exporter puts the whole outputs there). LangSmith takes a
    run's cost only from ``usage_metadata``'s ``input_cost`` / ``output_cost`` / ``total_cost`` or derives it
    from its price table; no span attribute carries a cost."""
    choices = chat_choices(rec)
    outputs: dict[str, Any] = json.loads(choices) if choices is not None else {}
    usage: dict[str, Any] = {}
    for key, value in (("input_tokens", rec.prompt_tokens), ("output_tokens", rec.completion_tokens),
                       ("total_tokens", rec.total_tokens)):
        if isinstance(value, int) and not isinstance(value, bool):
            usage[key] = value
    for key, text in (("input_token_details", langsmith_token_details(rec)),
                      ("output_token_details", _counts([("reasoning", rec.reasoning_tokens)]))):
        if text is not None:
            usage[key] = json.loads(text)
    for key, value in (("input_cost", rec.input_cost), ("output_cost", rec.output_cost),
                       ("total_cost", rec.total_cost)):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            usage[key] = value
    if usage:
        outputs["usage_metadata"] = usage
    return _json(outputs) if outputs else None


def _counts(pairs: list[tuple[str, Any]]) -> str | None:
    present = {key: value for key, value in pairs if isinstance(value, int) and not isinstance(value, bool)}
    return _json(present) if present else None


def langfuse_usage(rec: Any) -> str | None:
    """``langfuse.observation.usage_details``: whole numbers, cached and cache-write tokens out of the input
    and reasoning tokens out of the output, as Langfuse's own arithmetic does (OtelIngestionProcessor's
    generic rule; its UI adds every type containing "input" / "output" back up)."""
    cached, write, reasoning = rec.cached_tokens or 0, rec.cache_write_tokens or 0, rec.reasoning_tokens or 0
    prompt, completion = rec.prompt_tokens, rec.completion_tokens
    return _counts([
        ("input", None if prompt is None else max(prompt - cached - write, 0)),
        ("input_cached_tokens", rec.cached_tokens),
        ("input_cache_creation", rec.cache_write_tokens),
        ("output", None if completion is None else max(completion - reasoning, 0)),
        ("output_reasoning_tokens", rec.reasoning_tokens),
        ("total", rec.total_tokens),
    ])


def _costs(pairs: list[tuple[str, Any]]) -> str | None:
    present = {key: float(value) for key, value in pairs
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    return _json(present) if present else None


def langfuse_cost(rec: Any) -> str | None:
    """``langfuse.observation.cost_details``: USD ``input``, ``output``, ``total`` (Langfuse then prices nothing)."""
    return _costs([("input", rec.input_cost), ("output", rec.output_cost), ("total", rec.total_cost)])


def mlflow_usage(rec: Any) -> str | None:
    """``mlflow.chat.tokenUsage``: MLflow's token usage object (input includes the cached tokens)."""
    return _counts([
        ("input_tokens", rec.prompt_tokens), ("output_tokens", rec.completion_tokens),
        ("total_tokens", rec.total_tokens), ("cache_read_input_tokens", rec.cached_tokens),
        ("cache_creation_input_tokens", rec.cache_write_tokens),
    ])


def langsmith_token_details(rec: Any) -> str | None:
    """``gen_ai.usage.input_token_details``: LangSmith's cache breakdown of the input tokens."""
    return _counts([("cache_read", rec.cached_tokens), ("cache_creation", rec.cache_write_tokens)])


def iso_us(ns: int) -> str:
    """Unix nanoseconds as ISO 8601 UTC with microseconds (``2024-11-19T07:06:40.412500Z``)."""
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def completion_start_iso(rec: Any) -> str | None:
    """``langfuse.observation.completion_start_time``: when the first token came (start + time to first token)."""
    ttft = rec.time_to_first_token_ms
    if not isinstance(ttft, (int, float)) or isinstance(ttft, bool) or not 0 <= ttft < 1e12:
        return None
    return iso_us(rec.start_time_ns + int(ttft * 1_000_000))


def openinference_metadata(rec: Any) -> str | None:
    """OpenInference ``metadata``: the custom trace keys, and the generation id (OpenInference has no key of
    its own for it, and Phoenix shows metadata with every span)."""
    from ..record import TRACE_KEYS

    custom = {k: v for k, v in (rec.trace or {}).items() if k not in TRACE_KEYS} if isinstance(rec.trace, dict) else {}
    return _json({**custom, "generation_id": rec.id})


def member(group: str, name: str):
    """A function of the record: its ``group`` struct's ``name`` (None when either is absent), for PYFUNC
    steps over the broadcast_generation_* groups (routing has cleared the groups a destination may not get)."""

    def value(rec: Any) -> Any:
        part = getattr(rec, group)
        return None if part is None else getattr(part, name)

    value.__name__ = f"{group}.{name}"
    return value


#: The generation metadata groups under OpenRouter's own keys (openrouter_generation.*, openrouter.*).
OPENROUTER_GENERATION_KEYS = (
    ("trace.metadata.openrouter_generation.usage_upstream", "generation_cost", "upstream_cost"),
    ("trace.metadata.openrouter_generation.byok_usage_inference", "generation_cost", "byok_cost"),
    ("trace.metadata.openrouter_generation.is_byok", "generation_cost", "is_byok"),
    ("trace.metadata.openrouter_generation.usage_cache", "generation_cost", "cache_cost"),
    ("trace.metadata.openrouter_generation.usage_web", "generation_cost", "web_search_cost"),
    ("trace.metadata.openrouter_generation.app.title", "generation_identity", "app_name"),
    ("trace.metadata.openrouter_generation.app.url", "generation_identity", "app_url"),
    ("trace.metadata.openrouter_generation.external_user", "generation_identity", "external_user"),
    ("trace.metadata.openrouter.router_latency_ms", "generation_context", "router_latency_ms"),
    ("trace.metadata.openrouter.provider_request_ms", "generation_context", "provider_latency_ms"),
    ("trace.metadata.openrouter.provider_time_to_first_token_ms", "generation_context", "provider_ttft_ms"),
    ("trace.metadata.openrouter.region", "generation_context", "region"),
)


def openrouter_generation(rec: Any) -> dict[str, Any]:
    """The groups a row's METADATA carries, nested by OpenRouter's key names (``openrouter_generation.usage_upstream``
    is ``{"openrouter_generation": {"usage_upstream": ...}}``, as OpenRouter's warehouse rows are queried)."""
    out: dict[str, Any] = {}
    for key, group, name in OPENROUTER_GENERATION_KEYS:
        value = member(group, name)(rec)
        if value is not None:
            *path, last = key.removeprefix("trace.metadata.").split(".")
            node = out
            for part in path:
                node = node.setdefault(part, {})
            node[last] = value
    return out
