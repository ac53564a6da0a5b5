"""What Phoenix and MLflow show, read back from the real servers' APIs into the suite's model (shown.Shown)."""

from __future__ import annotations

import base64
import json
from typing import Any

from fidelity.shown import Shown, json_or_text, text

# ---------------------------------------------------------------- Phoenix (REST /v1/projects/{p}/spans, GraphQL)


def _indexed(attrs: dict[str, Any], prefix: str) -> dict[int, dict[str, Any]]:
    """prefix.N.rest -> {N: {rest: value}} (Phoenix returns OpenInference's indexed keys flat)."""
    out: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if key.startswith(prefix):
            index, _, rest = key[len(prefix):].partition(".")
            if index.isdigit():
                out.setdefault(int(index), {})[rest] = value
    return dict(sorted(out.items()))


def _ancestors(span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    chain, seen = [], set()
    while span.get("parent_id") in by_id and span["parent_id"] not in seen:
        seen.add(span["parent_id"])
        span = by_id[span["parent_id"]]
        chain.append(span)
    return chain


def phoenix_view(spans: list[dict[str, Any]], costs: dict[str, float | None]) -> dict[str, Shown]:
    """One Shown per generation span (found by metadata.generation_id or gen_ai.response.id): what Phoenix's
    trace tree, span details (LLM messages, tokens, attributes) and cost column show."""
    by_id = {s["context"]["span_id"]: s for s in spans}
    out = {}
    for span in spans:
        a = span["attributes"]
        gen_id = a.get("metadata.generation_id") or a.get("gen_ai.response.id")
        if span["span_kind"] != "LLM" or gen_id is None:
            continue
        up = _ancestors(span, by_id)
        top = up[-1] if up else span
        shown = Shown(name=span["name"], parent=up[0]["name"] if up else None, trace_name=top["name"])
        shown.model = a.get("llm.model_name")
        for msg in _indexed(a, "llm.input_messages.").values():
            if isinstance(msg.get("message.content"), str) and msg.get("message.role") != "tool":
                shown.input.append((msg.get("message.role"), msg["message.content"]))
            if msg.get("message.tool_call_id"):
                shown.tool_results.append(msg["message.tool_call_id"])
        answer = _indexed(a, "llm.output_messages.").get(0, {})
        shown.output = answer.get("message.content")
        for call in _indexed(answer, "message.tool_calls.").values():
            shown.tool_calls.append((call.get("tool_call.function.name"), json_or_text(call.get("tool_call.function.arguments"))))
        for name, key in (("input", "prompt"), ("output", "completion"), ("total", "total"),
                          ("cached", "prompt_details.cache_read"), ("reasoning", "completion_details.reasoning"),
                          ("cache_write", "prompt_details.cache_write")):
            if f"llm.token_count.{key}" in a:
                shown.usage[name] = a[f"llm.token_count.{key}"]
        shown.cost = costs.get(span["id"])
        for s in [span, *up]:
            shown.user = shown.user or s["attributes"].get("user.id")
            shown.session = shown.session or s["attributes"].get("session.id")
        for key, value in a.items():
            for prefix in ("metadata.", "trace.metadata."):
                if key.startswith(prefix) and key != "metadata.generation_id":
                    shown.metadata[key[len(prefix):]] = text(value)
        shown.error = span["status_code"] == "ERROR"
        shown.error_message = span["status_message"] or None
        shown.trace_error = top["status_code"] == "ERROR"
        out[gen_id] = shown
    return out


# ---------------------------------------------------------------- MLflow (/api/3.0/mlflow/traces/get)


def any_value(v: dict[str, Any]) -> Any:
    """An OTLP-proto-JSON AnyValue as MLflow returns it, as a plain value."""
    if not v:
        return None
    (kind, value), = v.items()
    if kind == "array_value":
        return [any_value(item) for item in value.get("values", [])]
    if kind == "kvlist_value":
        return {kv["key"]: any_value(kv.get("value", {})) for kv in value.get("values", [])}
    if kind == "int_value":
        return int(value)
    return value


def _messages(value: Any) -> list[dict[str, Any]]:
    """The chat messages MLflow's chat view reads: OpenAI's {"messages"} / [{role, content}], or the GenAI
    conventions' [{role, parts}]."""
    value = json_or_text(value)
    if isinstance(value, dict):
        value = value.get("messages", [])
    return value if isinstance(value, list) else []


def _text_of(message: dict[str, Any]) -> str | None:
    if isinstance(message.get("content"), str):
        return message["content"]
    texts = [p.get("content") for p in message.get("parts", []) if isinstance(p, dict) and p.get("type") == "text"]
    return "".join(texts) if texts else None


def mlflow_view(traces: list[dict[str, Any]]) -> dict[str, Shown]:
    """One Shown per generation span (found by gen_ai.response.id): what MLflow's trace list (name, state,
    user, session, tags), span tree and span details (inputs, outputs, chat, usage, cost) show."""
    out = {}
    for trace in traces:
        info = trace["info"]
        spans = trace["spans"]
        by_id = {s["span_id"]: s for s in spans}
        # the top of the tree: a span whose parent is not in the trace (none, or the caller's: parent_span_id)
        roots = [s for s in spans if s.get("parent_span_id") not in by_id]
        trace_name = info.get("tags", {}).get("mlflow.traceName") or (roots[0]["name"] if roots else None)
        meta = info.get("trace_metadata", {})
        for span in spans:
            a = {kv["key"]: any_value(kv.get("value", {})) for kv in span.get("attributes", [])}
            gen_id = a.get("gen_ai.response.id")
            if gen_id is None:
                continue
            parent = by_id.get(span.get("parent_span_id"))
            shown = Shown(name=span["name"], parent=parent["name"] if parent else None, trace_name=trace_name)
            shown.model = json_or_text(a.get("mlflow.llm.model"))
            for message in _messages(a.get("mlflow.spanInputs")):
                content = _text_of(message)
                if content is not None and message.get("role") != "tool":
                    shown.input.append((message.get("role"), content))
                call_id = message.get("tool_call_id") or next(
                    (p.get("id") for p in message.get("parts", []) if p.get("type") == "tool_call_response"), None)
                if call_id:
                    shown.tool_results.append(call_id)
            outputs = json_or_text(a.get("mlflow.spanOutputs"))
            if isinstance(outputs, dict) and "choices" in outputs:
                message = outputs["choices"][0]["message"]
                shown.output = message.get("content")
                calls = [(c["function"]["name"], json_or_text(c["function"].get("arguments"))) for c in message.get("tool_calls") or ()]
            elif isinstance(outputs, list):  # the GenAI conventions' output messages
                shown.output = _text_of(outputs[0]) if outputs else None
                calls = [(p["name"], json_or_text(p.get("arguments"))) for p in (outputs[0].get("parts", []) if outputs else ())
                         if p.get("type") == "tool_call"]
            else:  # a plain value (output.value)
                shown.output = outputs
                parts = json_or_text(a.get("gen_ai.output.messages")) or [{}]
                calls = [(p["name"], json_or_text(p.get("arguments"))) for p in parts[0].get("parts", []) if p.get("type") == "tool_call"]
            shown.tool_calls = calls
            usage = json_or_text(a.get("mlflow.chat.tokenUsage")) or {}
            for name, key in (("input", "input_tokens"), ("output", "output_tokens"), ("total", "total_tokens"),
                              ("cached", "cache_read_input_tokens"), ("cache_write", "cache_creation_input_tokens")):
                if key in usage:
                    shown.usage[name] = usage[key]
            cost = json_or_text(a.get("mlflow.llm.cost")) or {}
            shown.cost = cost.get("total_cost")
            shown.user = meta.get("mlflow.trace.user")
            shown.session = meta.get("mlflow.trace.session")
            tags = {k: v for k, v in info.get("tags", {}).items()
                    if not k.startswith("mlflow.") and k != "service.name"}
            shown.metadata = tags or {k[len("trace.metadata."):]: text(v) for k, v in a.items()
                                      if k.startswith("trace.metadata.")}
            status = span.get("status", {})
            shown.error = status.get("code") == "STATUS_CODE_ERROR"
            shown.error_message = status.get("message") or None
            shown.trace_error = info.get("state") == "ERROR"
            out[gen_id] = shown
    return out


def hex_id(b64: str) -> str:
    return base64.b64decode(b64).hex()
