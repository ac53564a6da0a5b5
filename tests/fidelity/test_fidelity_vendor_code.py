"""Fidelity against the vendors' own ingestion code: encoded as oracles (each cites repository, file, commit), or run.

Weave's OTel conversion is run as it is: weave's own server code, in .venv-weave-server (tests/locks/weave-server.in)."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from fidelity import oracle_langfuse
from fidelity.records import scenario
from fidelity.servers import venv_bin
from fidelity.shown import Shown, compare, expected, json_or_text, text
from otlp import parse_pb
from spancast.destinations import make_destination

HERE = Path(__file__).resolve().parent
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
            shown.tool_calls = [(c["function"]["name"], json_or_text(c["function"]["arguments"])) for c in answer.get("tool_calls") or ()]
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


WEAVE_OTLP = {"type": "weave", "name": "w", "route": "otlp", "apiKey": "a" * 40, "entity": "acme", "project": "p"}
#: The attribute names Weave's OTel conversion fills itself (constants.py ATTRIBUTE_KEYS); the rest is custom.
WEAVE_OWN = {"system", "kind", "model", "provider", "model_parameters", "operation_name", "response_id",
             "finish_reasons", "agent_name", "agent_id", "user_id"}


def weave_calls(body: bytes) -> dict:
    """Weave's own server code run on an OTLP request (tests/fidelity/vendor/weave_otel_to_calls.py)."""
    done = subprocess.run([str(venv_bin("weave-server", "python")), str(HERE / "vendor" / "weave_otel_to_calls.py")],
                          input=body, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


def _parts(message: dict, kind: str) -> list[dict]:
    return [p for p in message.get("parts") or () if p.get("type") == kind]


def weave_view(converted: dict) -> dict[str, Shown]:
    """What Weave's UI shows for each generation (a call whose response_id is the generation id): its name is the
    call's display_name, else the name of the op ref the server files it under (make_safe_name of the span name)."""
    calls = {c["start"]["id"]: c for c in converted["calls"]}

    def name(call: dict) -> str:
        return call["start"]["display_name"] or call["op_ref_name"]

    def root(call: dict) -> dict | None:  # None: the trace's root is the caller's span, not in this request
        while call["start"]["parent_id"] is not None:
            call = calls.get(call["start"]["parent_id"])
            if call is None:
                return None
        return call

    out = {}
    for call in calls.values():
        start, end = call["start"], call["end"]
        attributes = start["attributes"]
        if "response_id" not in attributes:
            continue
        parent, top = calls.get(start["parent_id"] or ""), root(call)
        shown = Shown(name=name(call), parent=name(parent) if parent else None,
                      trace_name=name(top) if top else None, model=attributes.get("model"),
                      user=attributes.get("user_id"), session=start["thread_id"],
                      metadata={k: text(v) for k, v in attributes.items() if k not in WEAVE_OWN},
                      error=end["summary"]["weave"]["status"] == "error", error_message=end["exception"],
                      duration_ms=float(end["summary"]["weave"]["latency_ms"]),
                      trace_error=top is not None and top["end"]["summary"]["weave"]["status"] == "error")
        for message in start["inputs"].get("gen_ai.input.messages") or ():
            if message["role"] == "tool":
                shown.tool_results += [p["id"] for p in _parts(message, "tool_call_response")]
            elif _parts(message, "text"):
                shown.input.append((message["role"], "".join(p["content"] for p in _parts(message, "text"))))
        output = end["output"] if isinstance(end["output"], dict) else {}
        answer = [p for m in output.get("gen_ai.output.messages") or () for p in m.get("parts") or ()]
        text_parts = [p["content"] for p in answer if p.get("type") == "text"]
        shown.output = output.get("output.value") or ("".join(text_parts) if text_parts else None)
        shown.tool_calls = [(p["name"], json_or_text(p["arguments"])) for p in answer if p.get("type") == "tool_call"]
        (usage,) = end["summary"]["usage"].values()  # keyed by the model Weave prices the call with
        shown.usage = {mine: usage[theirs] for mine, theirs in (
            ("input", "input_tokens"), ("output", "output_tokens"), ("total", "total_tokens"),
            ("cached", "cache_read_input_tokens"), ("cache_write", "cache_creation_input_tokens"))
            if usage.get(theirs) is not None}
        out[attributes["response_id"]] = shown
    return out


def test_weave_shows_each_generation_as_the_records_say():
    """Weave's own OTel -> call conversion (wandb/weave, weave 0.52.43 on PyPI, the last wheel that carries the
    server: weave/trace_server/opentelemetry/python_spans.py Span.to_call, attributes.py and constants.py, and the
    op ref name from object_creation_utils.make_safe_name) run on the weave destination's OTLP route."""
    records = scenario(uuid.uuid4().hex[:8])
    converted = weave_calls(request_body(WEAVE_OTLP, records))
    assert converted["rejected"] == []  # no span refused for conflicting attribute paths
    shown = weave_view(converted)
    fields = ("name", "parent", "trace_name", "model", "input", "output", "tool_calls", "tool_results", "user",
              "session", "metadata", "error", "error_message", "duration_ms", "trace_error")
    assert compare(shown, records, fields) == []
    # Usage: every count but reasoning (Weave's LLMUsageSchema has no such bucket). Weave keeps only truthy
    # values (attributes.py parse_weave_values: `if value:`) and derives the total from input + output, so a
    # record with 0 output tokens (the failed one) shows neither its output count nor its total.
    for rec in records:
        want = {k: v for k, v in expected(rec, records).usage.items() if k != "reasoning" and v}
        if "output" not in want:
            want.pop("total", None)
        assert shown[rec.id].usage == want, rec.id
    assert "output" not in shown[records[3].id].usage and records[3].completion_tokens == 0
    # Not shown by Weave from OTLP at all: the record's cost (Weave prices summary.usage with its own table,
    # keyed by the model it read) and the time to first token (no field for it).


def test_weave_takes_the_calls_routes_complete_calls():
    """The calls route's body for the fidelity records, parsed by Weave's own request model and checked by its
    validators (weave 0.52.43: trace_server_interface.py CallsUpsertCompleteReq, validation.py), as the
    calls/complete route would."""
    records = scenario(uuid.uuid4().hex[:8])
    body = request_body({**WEAVE_OTLP, "route": "calls"}, records)
    done = subprocess.run([str(venv_bin("weave-server", "python")), str(HERE / "vendor" / "weave_check_complete.py")],
                          input=body, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert int(done.stdout) == len(records)
