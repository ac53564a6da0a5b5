"""Fidelity against the vendors' own ingestion code, encoded as oracles (each cites repository, file, commit)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from fidelity import oracle_langfuse
from fidelity.records import scenario
from fidelity.shown import Shown, arguments, compare, text
from otlp import parse_pb
from spancast.destinations import make_destination

EPOCH = datetime(1970, 1, 1)
LANGFUSE = {"type": "langfuse", "name": "lf", "publicKey": "pk-lf-1", "secretKey": "sk-lf-1"}


def request_body(config: dict, records: list) -> bytes:
    """The body the destination would send for the records (one request: its encoder, as the lane uses it)."""
    encoder = make_destination(config).new_encoder()
    for rec in records:
        encoder.append(rec)
    return encoder.finish()


def langfuse_view(body: bytes) -> dict[str, Shown]:
    traces, observations = oracle_langfuse.ingest(parse_pb(body))
    out = {}
    for obs in observations.values():
        if obs["type"] != "GENERATION":
            continue
        trace = traces.get(obs["traceId"], {})
        parent = observations.get(obs["parent"])
        shown = Shown(name=obs["name"], parent=parent["name"] if parent else None, trace_name=trace.get("name"),
                      model=obs["model"])
        given, answer = (json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for v in (obs["input"], obs["output"]))
        for message in given if isinstance(given, list) else []:
            if message.get("role") == "tool":
                shown.tool_results.append(message.get("tool_call_id"))
            elif isinstance(message.get("content"), str):
                shown.input.append((message["role"], message["content"]))
        if isinstance(answer, dict):
            shown.output = answer.get("content")
            shown.tool_calls = [(c["function"]["name"], arguments(c["function"]["arguments"])) for c in answer.get("tool_calls") or ()]
        usage = obs["usage"]  # the UI adds every type containing "input" / "output" back up
        if usage:
            shown.usage = {"input": sum(v for k, v in usage.items() if "input" in k),
                           "output": sum(v for k, v in usage.items() if "output" in k)}
            for name, key in (("total", "total"), ("cached", "input_cached_tokens"), ("reasoning", "output_reasoning_tokens"),
                              ("cache_write", "input_cache_creation")):
                if key in usage:
                    shown.usage[name] = usage[key]
        shown.cost = obs["cost"].get("total")
        shown.user, shown.session = trace.get("userId"), trace.get("sessionId")
        shown.metadata = {k: text(v) for k, v in trace.get("metadata", {}).items()}
        shown.error = obs["level"] == "ERROR"
        shown.error_message = obs["statusMessage"] if shown.error else None
        if obs["completionStartTime"] is not None:  # Langfuse keeps milliseconds (DateTime64(3))
            started_us = (obs["completionStartTime"].replace(tzinfo=None) - EPOCH) // timedelta(microseconds=1)
            shown.ttft_ms = (started_us // 1000 - obs["start"] // 1_000_000) * 1.0
        out[obs["id"]] = shown
    return out


def by_generation(body: bytes, records: list) -> dict[str, Shown]:
    """The oracle's generations keyed by record id (Langfuse keys observations by span id: matched by order)."""
    shown = list(langfuse_view(body).values())
    assert len(shown) == len(records)
    return {rec.id: s for rec, s in zip(records, shown)}


def test_langfuse_shows_usage_cost_model_io_level_and_completion_start():
    records = scenario(uuid.uuid4().hex[:8])
    body = request_body(LANGFUSE, records)
    shown = by_generation(body, records)
    fields = ("name", "parent", "trace_name", "model", "input", "output", "tool_calls", "tool_results", "usage",
              "cost", "user", "session", "metadata", "error", "error_message", "ttft_ms")
    assert compare(shown, records, fields) == []


def test_the_old_flavour_lost_usage_and_cost_in_langfuse():
    # What the issue reported, reproduced on the oracle: gen_ai.usage.*_cost doubles swept into the usage
    # make Langfuse refuse it as a whole, and no cost key is read.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "LLM Generation"
    for key, value in (("gen_ai.usage.input_tokens", 10), ("gen_ai.usage.output_tokens", 5)):
        kv = span.attributes.add()
        kv.key, kv.value.int_value = key, value
    kv = span.attributes.add()
    kv.key, kv.value.double_value = "gen_ai.usage.total_cost", 0.0051
    _, observations = oracle_langfuse.ingest(request)
    (obs,) = observations.values()
    assert obs["usage"] == {} and "Invalid usage details" in obs["usage_error"] and obs["cost"] == {}
