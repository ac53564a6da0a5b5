"""The OpenTelemetry GenAI conventions, current and older, as record fields (and spancast's own gen_ai keys).

| record field | attributes read, first present wins |
|---|---|
| model | gen_ai.request.model, else gen_ai.response.model |
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

__all__ = ["is_llm", "apply", "LLM_OPERATIONS"]

#: gen_ai.operation.name values that are one model call (the others: agents, tools, workflows).
LLM_OPERATIONS = {"chat": "chat", "text_completion": "completion", "completion": "completion",
                  "generate_content": "chat", "embeddings": "embeddings", "responses": "responses"}
_NOT_PARAMETERS = frozenset({"model", "stream"})


def is_llm(attrs: dict[str, Any]) -> str | None:
    """The record's operation when these attributes describe one model call, else None."""
    op = attrs.get("gen_ai.operation.name")
    if isinstance(op, str):
        return LLM_OPERATIONS.get(op)
    if "gen_ai.request.model" in attrs or "gen_ai.response.model" in attrs:
        return "chat"
    return None


def _first(draft: Draft, read: Any, *keys: str) -> Any:
    for key in keys:
        value = read(key)
        if value is not None:
            return value
    return None


def apply(d: Draft) -> None:
    op = d.str("gen_ai.operation.name")
    if op is not None:
        d.put("operation", LLM_OPERATIONS.get(op, op))
    request_model, response_model = d.str("gen_ai.request.model"), d.str("gen_ai.response.model")
    d.put("model", request_model or response_model)
    if response_model and response_model != (request_model or response_model):
        d.put("response_model", response_model)
    named, system = d.str("gen_ai.provider.name"), d.str("gen_ai.system")  # system: the deprecated name of the same
    d.put("provider", named or system)
    d.put("id", d.str("gen_ai.response.id"))
    d.put("prompt_tokens", _first(d, d.int, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"))
    d.put("completion_tokens", _first(d, d.int, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"))
    d.put("total_tokens", d.int("gen_ai.usage.total_tokens"))
    d.put("cached_tokens", _first(d, d.int, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.input_tokens.cached",
                                  "gen_ai.usage.cache_read_input_tokens"))
    write = _first(d, d.int, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                   "gen_ai.usage.input_tokens.cache_write", "gen_ai.usage.cache_creation_input_tokens")
    if write is None:  # OpenRouter's split by cache lifetime
        parts = [d.int("gen_ai.usage.input_tokens.cache_write_5m"), d.int("gen_ai.usage.input_tokens.cache_write_1h")]
        write = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
    d.put("cache_write_tokens", write)
    d.put("reasoning_tokens", _first(d, d.int, "gen_ai.usage.reasoning.output_tokens",
                                     "gen_ai.usage.output_tokens.reasoning", "gen_ai.usage.reasoning_tokens"))
    d.put("input_cost", d.float("gen_ai.usage.input_cost"))
    d.put("output_cost", d.float("gen_ai.usage.output_cost"))
    d.put("total_cost", _first(d, d.float, "gen_ai.usage.total_cost", "gen_ai.usage.cost"))
    mlflow_cost = d.json("mlflow.llm.cost")  # MLflow's cost object (spancast's gen_ai rendering sends it too)
    if isinstance(mlflow_cost, dict):
        for field in ("input_cost", "output_cost", "total_cost"):
            if isinstance(mlflow_cost.get(field), (int, float)) and not isinstance(mlflow_cost.get(field), bool):
                d.put(field, float(mlflow_cost[field]))
    reasons = d.raw("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        d.put("finish_reason", reasons[0])
    elif isinstance(reasons, str):  # a JSON text of the array, or one reason
        d.put("finish_reason", reasons.strip('[]" ').split('"')[0] or None)
    d.put("finish_reason", d.str("gen_ai.response.finish_reason"))
    d.put("native_finish_reason", d.str("gen_ai.response.native_finish_reason"))
    ttft_s = _first(d, d.float, "gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")
    d.put("time_to_first_token_ms", None if ttft_s is None else ttft_s * 1000.0)
    d.put("streamed", _first(d, d.bool, "gen_ai.request.stream", "gen_ai.is_streaming"))
    d.put("cancelled", d.bool("gen_ai.response.cancelled"))
    params = {k: _param(v) for k, v in d.prefixed("gen_ai.request.").items() if k not in _NOT_PARAMETERS}
    d.put("model_parameters", params or None)
    d.put("user", _first(d, d.str, "user.id", "gen_ai.user", "enduser.id"))
    d.put("session_id", _first(d, d.str, "session.id", "gen_ai.conversation.id"))
    d.put("api_key_name", d.str("gen_ai.api_key.name"))
    d.put("error_type", d.str("error.type"))
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
