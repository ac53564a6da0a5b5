"""Langfuse's OTel ingestion rules, as an oracle: what Langfuse makes of an OTLP request (traces, observations).

Encoded from langfuse/langfuse @ 62751446149b702b419a9292ddfc2280cdf74b8c:
``packages/shared/src/server/otel/OtelIngestionProcessor.ts`` (processToEvent, createObservationEvent,
extractName, extractModelName, extractUsageDetails / extractGenericGenAiUsageDetails, extractCostDetails,
extractInputAndOutput, extractCompletionStartTime, level and status message, createTraceEvent and the
trace-update rule), ``ObservationTypeMapper.ts`` (observation types) and ``ingestion/types.ts`` (UsageDetails:
whole numbers >= 0, else "Invalid usage details"; CostDetails: numbers >= 0). Only the branches a request
from spancast (or the old flavour this oracle caught) can reach are encoded; the others are named.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from otlp import any_value, spans

USAGE_ALIASES = {  # extractGenericGenAiUsageDetails: canonical name <- keys (after the gen_ai.usage. prefix)
    "input": ("prompt_tokens", "input_tokens", "prompt"),
    "output": ("completion_tokens", "output_tokens", "completion"),
    "total": ("total_tokens", "total"),
    "input_cached_tokens": ("cache_read.input_tokens", "cache_read_input_tokens", "cache_read_tokens",
                            "input_cached_tokens"),
    "input_cache_creation": ("cache_creation.input_tokens", "cache_creation_input_tokens", "cache_write_tokens",
                             "input_cache_creation"),
    "output_reasoning_tokens": ("reasoning.output_tokens",),
}


class InvalidUsage(ValueError):
    """Langfuse refuses the observation's usage as a whole ("Invalid usage details")."""


def plain(value) -> Any:
    """convertValueToPlainJavascript: strings, numbers, booleans, arrays as they are."""
    kind, v = any_value(value)
    if kind == "array":
        return [item for _, item in v]
    return v


def usage_details(a: dict[str, Any]) -> dict[str, int]:
    """langfuse.observation.usage_details (JSON object of whole numbers), else the generic gen_ai rule."""
    raw = a.get("langfuse.observation.usage_details")
    if isinstance(raw, str):
        usage = json.loads(raw)
    else:
        usage = {}
        for key, value in a.items():
            for prefix in ("gen_ai.usage.", "llm.token_count."):
                if key.startswith(prefix) and key != "gen_ai.usage.cost" and isinstance(value, (int, float)):
                    usage[key[len(prefix):]] = value
        for canonical, aliases in USAGE_ALIASES.items():
            for alias in aliases:
                if alias in usage:
                    usage[canonical] = usage.pop(alias)
        read, write = usage.get("input_cached_tokens", 0), usage.get("input_cache_creation", 0)
        if "input" in usage:
            usage["input"] = max(usage["input"] - read - write, 0)
        if "output" in usage:
            usage["output"] = max(usage["output"] - usage.get("output_reasoning_tokens", 0), 0)
    for key, value in usage.items():  # UsageDetails: whole numbers >= 0, or the whole usage is refused
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidUsage(f"Invalid usage details: {key}={value!r}")
    return usage


def cost_details(a: dict[str, Any]) -> dict[str, float]:
    """langfuse.observation.cost_details (a JSON object string) > gen_ai.usage.cost > llm.cost.total."""
    raw = a.get("langfuse.observation.cost_details")
    if raw is not None:
        if not isinstance(raw, str):
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return {k: v for k, v in parsed.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 and not math.isnan(v)}
    for key in ("gen_ai.usage.cost", "llm.cost.total"):
        if isinstance(a.get(key), (int, float)):
            return {"total": a[key]}
    return {}


def in_out(a: dict[str, Any]) -> tuple[Any, Any]:
    """extractInputAndOutput, the branches spancast's flavours reach, in Langfuse's order."""
    for ins, outs in (("langfuse.observation.input", "langfuse.observation.output"), ("input.value", "output.value"),
                      ("gen_ai.prompt", "gen_ai.completion"), ("gen_ai.input.messages", "gen_ai.output.messages")):
        if ins in a or outs in a:
            return a.get(ins), a.get(outs)
    return None, None


def ingest(request) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(traces by id, observations by id) Langfuse stores for one ExportTraceServiceRequest."""
    traces: dict[str, dict[str, Any]] = {}
    observations: dict[str, dict[str, Any]] = {}
    for span in spans(request):
        a = {kv.key: plain(kv.value) for kv in span.attributes}
        trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
        parent = span.parent_span_id.hex() or None
        obs: dict[str, Any] = {"id": span_id, "traceId": trace_id, "parent": parent,
                               "name": a.get("gen_ai.tool.name") or span.name,
                               "type": (a.get("langfuse.observation.type") or "span").upper(),
                               "start": span.start_time_unix_nano, "end": span.end_time_unix_nano}
        obs["model"] = (a.get("langfuse.observation.model.name") or a.get("gen_ai.response.model")
                        or a.get("gen_ai.request.model") or a.get("llm.model_name"))
        obs["input"], obs["output"] = in_out(a)
        try:
            obs["usage"] = usage_details(a)
        except InvalidUsage as exc:
            obs["usage"], obs["usage_error"] = {}, str(exc)
        obs["cost"] = cost_details(a)
        start = a.get("langfuse.observation.completion_start_time")
        obs["completionStartTime"] = datetime.fromisoformat(json.loads(start) if start.startswith('"') else start) if start else None
        level = a.get("langfuse.observation.level")
        obs["level"] = level.upper() if level else ("ERROR" if span.status.code == 2 else "DEFAULT")
        obs["statusMessage"] = a.get("langfuse.observation.status_message") or span.status.message or None
        obs["metadata"] = {k[len("langfuse.observation.metadata."):]: v for k, v in a.items()
                           if k.startswith("langfuse.observation.metadata.")}
        observations[span_id] = obs
        trace_keys = {"langfuse.trace.name", "user.id", "session.id", "langfuse.user.id", "langfuse.session.id"}
        is_root = parent is None
        if is_root or trace_keys & set(a) or any(k.startswith("langfuse.trace.metadata") for k in a):
            trace = traces.setdefault(trace_id, {"id": trace_id, "metadata": {}})
            if is_root:  # createTraceEvent: the root names the trace (langfuse.trace.name, else its span name)
                trace["name"] = a.get("langfuse.trace.name") or span.name
            elif "langfuse.trace.name" in a:  # a trace update names it with langfuse.trace.name only
                trace["name"] = a["langfuse.trace.name"]
            for field, keys in (("userId", ("langfuse.user.id", "user.id")),
                                ("sessionId", ("langfuse.session.id", "session.id", "gen_ai.conversation.id"))):
                value = next((a[k] for k in keys if a.get(k) is not None), None)
                if value is not None:
                    trace[field] = value
            trace["metadata"].update({k[len("langfuse.trace.metadata."):]: v for k, v in a.items()
                                      if k.startswith("langfuse.trace.metadata.")})
    return traces, observations
