"""The OpenTelemetry GenAI conventions, current and older, as record fields (and spancast's own gen_ai keys).

The table is KEYS (plain keys) and apply() (the rest); where several keys fill a field, the first wins.

| record field | attributes read, first present wins |
|---|---|
| model | gen_ai.request.model, else gen_ai.response.model (mapping.py) |
| response_model | gen_ai.response.model (when it differs from model) |
| provider | gen_ai.provider.name, gen_ai.system |
| operation | gen_ai.operation.name (text_completion -> completion, generate_content -> chat) |
| id | gen_ai.response.id |
| prompt_tokens, completion_tokens, total_tokens | gen_ai.usage.input_tokens / .prompt_tokens, output_tokens / .completion_tokens, total_tokens |
| cached_tokens | gen_ai.usage.cache_read.input_tokens, gen_ai.usage.input_tokens.cached |
| cache_write_tokens | gen_ai.usage.cache_creation.input_tokens, .cache_write.input_tokens, gen_ai.usage.input_tokens.cache_write (or _5m + _1h) |
| reasoning_tokens | gen_ai.usage.reasoning.output_tokens, gen_ai.usage.output_tokens.reasoning, gen_ai.usage.reasoning_tokens |
| input_cost, output_cost, total_cost | gen_ai.usage.input_cost, output_cost, total_cost, gen_ai.usage.cost; mlflow.llm.cost |
| finish_reason, native_finish_reason | gen_ai.response.finish_reasons[0] or gen_ai.response.finish_reason; gen_ai.response.native_finish_reason |
| time_to_first_token_ms | gen_ai.response.time_to_first_chunk or gen_ai.server.time_to_first_token (seconds) x 1000 |
| streamed, cancelled | gen_ai.request.stream (gen_ai.is_streaming), gen_ai.response.cancelled |
| model_parameters | every other gen_ai.request.* (temperature, max_tokens, top_p, stop_sequences, ...) |
| messages, prompt | gen_ai.input.messages (+ gen_ai.system_instructions); gen_ai.prompt as {"messages", "prompt"} JSON or text; gen_ai.prompt.N.role/content |
| completion, reasoning, tool_calls | gen_ai.output.messages; gen_ai.completion as {"completion", "reasoning", "toolCalls"} JSON or text; gen_ai.completion.N.* |
| user, session_id | user.id, gen_ai.user; session.id, gen_ai.conversation.id |
| api_key_name, error_type | gen_ai.api_key.name; error.type |
"""

from __future__ import annotations

from typing import Any

import orjson

from . import messages as shapes
from .fields import Draft

__all__ = ["HEADS", "KEYS", "LLM_OPERATIONS", "apply", "is_llm"]

#: the first segments of the keys this convention reads (mapping.py skips it when a span has none)
HEADS = frozenset({"gen_ai", "mlflow"})

#: gen_ai.operation.name values that are one model call (the others: agents, tools, workflows).
LLM_OPERATIONS = {"chat": "chat", "text_completion": "completion", "completion": "completion",
                  "generate_content": "chat", "embeddings": "embeddings", "responses": "responses"}
_NOT_PARAMETERS = frozenset({"model", "stream"})
_INPUT_KEYS = ("gen_ai.input.messages", "gen_ai.prompt", "gen_ai.prompt.0.role", "gen_ai.prompt.0.content")
_OUTPUT_KEYS = ("gen_ai.output.messages", "gen_ai.completion", "gen_ai.completion.0.role",
                "gen_ai.completion.0.content")


def is_llm(attrs: dict[str, Any]) -> str | None:
    """The record's operation when these attributes describe one model call, else None."""
    op = attrs.get("gen_ai.operation.name")
    if isinstance(op, str):
        return LLM_OPERATIONS.get(op)
    if "gen_ai.request.model" in attrs or "gen_ai.response.model" in attrs:
        return "chat"
    return None


#: Plain keys: attribute -> (record field, kind). Listed in order of preference for the same field.
KEYS = {
    "gen_ai.request.model": ("model", "str"),
    "gen_ai.response.model": ("response_model", "str"),
    "gen_ai.provider.name": ("provider", "str"),
    "gen_ai.system": ("provider", "str"),  # the deprecated name of the same
    "gen_ai.response.id": ("id", "str"),
    "gen_ai.usage.input_tokens": ("prompt_tokens", "int"),
    "gen_ai.usage.prompt_tokens": ("prompt_tokens", "int"),
    "gen_ai.usage.output_tokens": ("completion_tokens", "int"),
    "gen_ai.usage.completion_tokens": ("completion_tokens", "int"),
    "gen_ai.usage.total_tokens": ("total_tokens", "int"),
    "gen_ai.usage.cache_read.input_tokens": ("cached_tokens", "int"),
    "gen_ai.usage.input_tokens.cached": ("cached_tokens", "int"),
    "gen_ai.usage.cache_read_input_tokens": ("cached_tokens", "int"),
    "gen_ai.usage.cache_creation.input_tokens": ("cache_write_tokens", "int"),
    "gen_ai.usage.cache_write.input_tokens": ("cache_write_tokens", "int"),
    "gen_ai.usage.input_tokens.cache_write": ("cache_write_tokens", "int"),
    "gen_ai.usage.cache_creation_input_tokens": ("cache_write_tokens", "int"),
    "gen_ai.usage.reasoning.output_tokens": ("reasoning_tokens", "int"),
    "gen_ai.usage.output_tokens.reasoning": ("reasoning_tokens", "int"),
    "gen_ai.usage.reasoning_tokens": ("reasoning_tokens", "int"),
    "gen_ai.usage.input_cost": ("input_cost", "float"),
    "gen_ai.usage.output_cost": ("output_cost", "float"),
    "gen_ai.usage.total_cost": ("total_cost", "float"),
    "gen_ai.usage.cost": ("total_cost", "float"),
    "gen_ai.response.finish_reason": ("finish_reason", "str"),
    "gen_ai.response.native_finish_reason": ("native_finish_reason", "str"),
    "gen_ai.response.time_to_first_chunk": ("time_to_first_token_ms", "s_to_ms"),
    "gen_ai.server.time_to_first_token": ("time_to_first_token_ms", "s_to_ms"),
    "gen_ai.request.stream": ("streamed", "bool"),
    "gen_ai.is_streaming": ("streamed", "bool"),
    "gen_ai.response.cancelled": ("cancelled", "bool"),
    "user.id": ("user", "str"),
    "gen_ai.user": ("user", "str"),
    "enduser.id": ("user", "str"),
    "session.id": ("session_id", "str"),
    "gen_ai.conversation.id": ("session_id", "str"),
    "gen_ai.api_key.name": ("api_key_name", "str"),
    "error.type": ("error_type", "str"),
}


def apply(d: Draft) -> None:
    """What takes more than a key: the operation's name, finish reasons, split cache writes, MLflow's cost
    object, request parameters, messages."""
    attrs = d.attrs
    op = d.str("gen_ai.operation.name")
    if op is not None:
        d.put("operation", LLM_OPERATIONS.get(op, op))
    if "gen_ai.usage.input_tokens.cache_write_5m" in attrs or "gen_ai.usage.input_tokens.cache_write_1h" in attrs:
        parts = [d.int("gen_ai.usage.input_tokens.cache_write_5m"), d.int("gen_ai.usage.input_tokens.cache_write_1h")]
        d.put("cache_write_tokens", sum(p for p in parts if p is not None))  # OpenRouter's split by cache lifetime
    if "mlflow.llm.cost" in attrs:  # MLflow's cost object (spancast's gen_ai rendering sends it too)
        mlflow_cost = d.json("mlflow.llm.cost")
        if isinstance(mlflow_cost, dict):
            for field in ("input_cost", "output_cost", "total_cost"):
                value = mlflow_cost.get(field)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    d.put(field, float(value))
    reasons = d.raw("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        d.put("finish_reason", reasons[0])
    elif isinstance(reasons, str):  # a JSON text of the array, or one reason
        d.put("finish_reason", reasons.strip('[]" ').split('"')[0] or None)
    params = {k: _param(v) for k, v in d.prefixed("gen_ai.request.").items() if k not in _NOT_PARAMETERS}
    d.put("model_parameters", params or None)
    _input(d)
    _output(d)


def _param(value: Any) -> Any:
    """A request parameter: JSON text of a list or object (spancast writes nested values so) read back."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _input(d: Draft) -> None:
    if not any(key in d.attrs for key in _INPUT_KEYS):
        return
    structured = d.json("gen_ai.input.messages")
    if structured is not None:
        msgs = shapes.from_parts(structured)
        system = d.json("gen_ai.system_instructions")
        if isinstance(system, list):
            text = "".join(p.get("content", "") for p in system if isinstance(p, dict) and isinstance(p.get("content"), str))
            msgs.insert(0, {"role": "system", "content": text})
        d.put("messages", msgs)
        return
    prompt = d.raw("gen_ai.prompt")
    if isinstance(prompt, str):
        doc = _json_object(prompt)
        if doc is not None and ("messages" in doc or "prompt" in doc):  # spancast's and OpenRouter's object
            if isinstance(doc.get("messages"), list):
                d.put("messages", shapes.from_parts(doc["messages"]))
            if isinstance(doc.get("prompt"), str):
                d.put("prompt", doc["prompt"])
        else:
            d.put("prompt", prompt)
        return
    flat = d.prefixed("gen_ai.prompt.")  # the old indexed form (Traceloop before the conventions)
    if flat:
        d.put("messages", shapes.from_indexed(shapes.indexed(flat)))


def _output(d: Draft) -> None:
    if not any(key in d.attrs for key in _OUTPUT_KEYS):
        return
    structured = d.json("gen_ai.output.messages")
    if structured is not None:
        completion, reasoning, calls, finish = shapes.output_from_parts(structured)
        d.put("completion", completion)
        d.put("reasoning", reasoning)
        d.put("tool_calls", calls)
        d.put("finish_reason", finish)
        return
    completion = d.raw("gen_ai.completion")
    if isinstance(completion, str):
        doc = _json_object(completion)
        if doc is not None and ({"completion", "reasoning", "toolCalls", "tool_calls"} & doc.keys()):
            if isinstance(doc.get("completion"), str):
                d.put("completion", doc["completion"])
            if isinstance(doc.get("reasoning"), str):
                d.put("reasoning", doc["reasoning"])
            calls = doc.get("toolCalls", doc.get("tool_calls"))
            if isinstance(calls, list) and calls:
                d.put("tool_calls", [c for c in calls if isinstance(c, dict)])
        else:
            d.put("completion", completion)
        return
    flat = shapes.indexed(d.prefixed("gen_ai.completion."))
    if flat:
        first = shapes.from_indexed(flat)[0]
        d.put("completion", first.get("content"))
        d.put("tool_calls", first.get("tool_calls"))
        d.put("finish_reason", flat[0].get("finish_reason"))


def _json_object(text: str) -> dict[str, Any] | None:
    if text[:1] != "{":
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None
