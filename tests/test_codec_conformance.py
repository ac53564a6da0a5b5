"""The encoders' output, parsed by opentelemetry-proto, says exactly what the records say."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

import spancast
from conftest import attempts_record, full_record
from otlp import as_dict, attrs, parse, parse_otlp_json, parse_pb, spans


def expected_gen_ai(rec) -> dict:
    """What the gen_ai flavour must carry for full_record(), written out by hand from the record."""
    return {
        "gen_ai.operation.name": ("string", "chat"),
        "gen_ai.system": ("string", "openai"),
        "gen_ai.provider.name": ("string", "OpenAI"),
        "gen_ai.request.model": ("string", rec.model),
        "gen_ai.response.model": ("string", rec.response_model),
        "gen_ai.response.id": ("string", rec.id),
        "gen_ai.response.finish_reasons": ("array", [("string", "stop")]),
        "gen_ai.response.native_finish_reason": ("string", "stop"),
        "gen_ai.usage.input_tokens": ("int", 1200),
        "gen_ai.usage.output_tokens": ("int", 300),
        "gen_ai.usage.total_tokens": ("int", 1500),
        "gen_ai.usage.input_tokens.cached": ("int", 1024),
        "gen_ai.usage.output_tokens.reasoning": ("int", 0),
        "gen_ai.usage.input_cost": ("double", 0.003),
        "gen_ai.usage.output_cost": ("double", 0.0045),
        "gen_ai.usage.total_cost": ("double", 0.0075),
        "gen_ai.server.time_to_first_token": ("double", 412.5 * 0.001),
        "gen_ai.request.stream": ("bool", True),
        "gen_ai.request.temperature": ("double", 0.7),
        "gen_ai.request.max_tokens": ("int", 512),
        "gen_ai.request.top_p": ("double", 1.0),
        "gen_ai.request.stop": ("string", '["\\n\\n"]'),
        "user.id": ("string", "user-42"),
        "session.id": ("string", "sess-7"),
        "gen_ai.api_key.name": ("string", "prod-key"),
        "trace.metadata.customer_tier": ("string", "gold"),
        "trace.metadata.retries": ("int", 2),
        "trace.metadata.ratio": ("double", 0.25),
        "trace.metadata.flag": ("bool", True),
        "trace.metadata.nested": ("string", '{"a":[1,2,{"b":null}]}'),
        "gen_ai.prompt": ("string", json.dumps({"messages": rec.messages}, ensure_ascii=False, separators=(",", ":"))),
        "gen_ai.completion": ("string", json.dumps({"completion": rec.completion}, separators=(",", ":"))),
    }


def test_generation_span_carries_every_field(impl, fmt, record):
    msg = parse(impl.encode_traces([record], format=fmt), fmt)
    assert len(msg.resource_spans) == 1
    rs = msg.resource_spans[0]
    assert attrs(rs.resource) == {"service.name": ("string", "spancast")}
    scope = rs.scope_spans[0].scope
    assert (scope.name, scope.version) == ("spancast", spancast.__version__)
    (span,) = spans(msg)
    assert span.trace_id == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert len(span.span_id) == 8 and any(span.span_id)
    assert span.parent_span_id == b""
    assert span.name == "checkout-flow"  # trace_name, as no generation_name is given
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (record.start_time_ns, record.end_time_ns)
    assert span.status.code == Status.STATUS_CODE_OK
    assert attrs(span) == expected_gen_ai(record)


def test_content_round_trips_through_prompt_and_completion_json(impl, fmt, record):
    (span,) = spans(parse(impl.encode_traces([record], format=fmt), fmt))
    a = attrs(span)
    assert json.loads(a["gen_ai.prompt"][1]) == {"messages": record.messages}
    assert json.loads(a["gen_ai.completion"][1]) == {"completion": record.completion}


def test_span_tree_with_intermediate_span_attempts_and_hashed_ids(impl, fmt):
    rec = attempts_record()
    all_spans = spans(parse(impl.encode_traces([rec], format=fmt), fmt))
    assert [s.name for s in all_spans] == [
        "agent-step",
        "LLM Generation",
        "provider attempt 1: OpenAI",
        "provider attempt 2: Azure",
        "provider attempt 3: Together",
    ]
    mid, gen, a1, a2, a3 = all_spans
    assert len({s.trace_id for s in all_spans}) == 1 and len(gen.trace_id) == 16
    assert len({s.span_id for s in all_spans}) == 5
    assert mid.kind == Span.SPAN_KIND_INTERNAL and gen.kind == Span.SPAN_KIND_CLIENT
    assert len(mid.parent_span_id) == 8 and gen.parent_span_id == mid.span_id
    assert all(a.parent_span_id == gen.span_id for a in (a1, a2, a3))
    ga = attrs(gen)
    assert ga["spancast.original_trace_id"] == ("string", "workflow_12345")
    assert ga["spancast.original_parent_span_id"] == ("string", "not-hex")
    assert ga["error.type"] == ("string", "upstream_error")
    assert (gen.status.code, gen.status.message) == (Status.STATUS_CODE_ERROR, "All providers failed")
    # Attempts are laid end to end from the start; one without a latency runs to the end.
    assert a1.start_time_unix_nano == rec.start_time_ns
    assert a1.end_time_unix_nano == rec.start_time_ns + 120_500_000 == a2.start_time_unix_nano
    assert a2.end_time_unix_nano == a2.start_time_unix_nano + 300_000_000 == a3.start_time_unix_nano
    assert a3.end_time_unix_nano == rec.end_time_ns
    assert (a1.status.code, a1.status.message) == (Status.STATUS_CODE_ERROR, "overloaded")
    assert a2.status.code == Status.STATUS_CODE_OK
    assert a3.status.code == Status.STATUS_CODE_ERROR
    assert attrs(a1) == {"gen_ai.provider.name": ("string", "OpenAI"), "http.response.status_code": ("int", 503)}
    assert attrs(a3) == {"gen_ai.provider.name": ("string", "Together"), "http.response.status_code": ("int", 429)}


def test_ids_are_deterministic_per_generation_and_distinct_across(impl):
    a, b = full_record(1, trace=None), full_record(2, trace=None)
    first = spans(parse_pb(impl.encode_traces([a, b])))
    again = spans(parse_pb(impl.encode_traces([a, b])))
    assert [(s.trace_id, s.span_id) for s in first] == [(s.trace_id, s.span_id) for s in again]
    assert first[0].trace_id != first[1].trace_id and first[0].span_id != first[1].span_id
    assert first[0].name == "LLM Generation"


def test_given_ids_are_used_verbatim_and_invalid_ones_hashed(impl):
    given = full_record(trace={"trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736", "parent_span_id": "00f067aa0ba902b7"})
    (span,) = spans(parse_pb(impl.encode_traces([given])))
    assert span.trace_id == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert span.parent_span_id == bytes.fromhex("00f067aa0ba902b7")
    assert "spancast.original_trace_id" not in attrs(span)
    zero = full_record(trace={"trace_id": "0" * 32, "parent_span_id": "0" * 16})
    (span,) = spans(parse_pb(impl.encode_traces([zero])))
    assert any(span.trace_id) and any(span.parent_span_id)  # all-zero ids are invalid in W3C, so hashed
    assert attrs(span)["spancast.original_trace_id"] == ("string", "0" * 32)


def test_generation_name_wins_over_trace_name(impl):
    rec = full_record(trace={"trace_name": "t", "generation_name": "g"})
    assert spans(parse_pb(impl.encode_traces([rec])))[0].name == "g"


def test_resource_attributes_and_service_name_override(impl, fmt):
    resource = {"service.name": "gateway", "deployment.environment": "prod", "replicas": 3}
    msg = parse(impl.encode_traces([full_record()], format=fmt, resource=resource), fmt)
    assert attrs(msg.resource_spans[0].resource) == {
        "service.name": ("string", "gateway"),
        "deployment.environment": ("string", "prod"),
        "replicas": ("int", 3),
    }


def test_openinference_flavour(impl, fmt):
    rec = full_record(
        tool_calls=[{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":1}'}}]
    )
    (span,) = spans(parse(impl.encode_traces([rec], format=fmt, flavor="openinference"), fmt))
    a = attrs(span)
    assert a["openinference.span.kind"] == ("string", "LLM")
    assert a["llm.model_name"] == ("string", "gpt-4o-2024-08-06")
    assert a["llm.provider"] == ("string", "openai")
    assert a["llm.token_count.prompt"] == ("int", 1200)
    assert a["llm.token_count.total"] == ("int", 1500)
    assert a["llm.token_count.prompt_details.cache_read"] == ("int", 1024)
    assert a["llm.cost.total"] == ("double", 0.0075)
    assert a["input.mime_type"] == ("string", "application/json")
    assert json.loads(a["input.value"][1]) == rec.messages
    assert a["output.value"] == ("string", rec.completion)
    assert a["output.mime_type"] == ("string", "text/plain")
    assert a["llm.input_messages.0.message.role"] == ("string", "system")
    assert a["llm.input_messages.1.message.content"] == ("string", rec.messages[1]["content"])
    assert a["llm.output_messages.0.message.role"] == ("string", "assistant")
    assert a["llm.output_messages.0.message.content"] == ("string", rec.completion)
    assert a["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] == ("string", "lookup")
    assert a["llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments"] == ("string", '{"q":1}')
    assert json.loads(a["llm.invocation_parameters"][1]) == rec.model_parameters
    meta = json.loads(a["metadata"][1])
    assert meta["customer_tier"] == "gold" and "trace_id" not in meta and "trace_name" not in meta
    assert a["session.id"] == ("string", "sess-7") and a["user.id"] == ("string", "user-42")


def test_plain_prompt_completion_in_openinference_is_text(impl):
    rec = full_record(messages=None, prompt="Once upon a time", operation="completion")
    a = attrs(spans(parse_pb(impl.encode_traces([rec], flavor="openinference")))[0])
    assert a["input.value"] == ("string", "Once upon a time")
    assert a["input.mime_type"] == ("string", "text/plain")
    assert not any(k.startswith("llm.input_messages") for k in a)


def test_absent_optional_fields_are_absent_attributes(impl, fmt):
    rec = spancast.Generation(id="gen-min", start_time_ns=5, end_time_ns=5, model="m")
    (span,) = spans(parse(impl.encode_traces([rec], format=fmt), fmt))
    assert attrs(span) == {
        "gen_ai.operation.name": ("string", "chat"),
        "gen_ai.request.model": ("string", "m"),
        "gen_ai.response.model": ("string", "m"),
        "gen_ai.response.id": ("string", "gen-min"),
    }


def test_non_finite_doubles(impl, fmt):
    rec = full_record(input_cost=float("nan"), output_cost=float("inf"), total_cost=float("-inf"))
    data = impl.encode_traces([rec], format=fmt)
    if fmt == "json":
        assert b'{"doubleValue":"NaN"}' in data and b'{"doubleValue":"Infinity"}' in data
        assert b'{"doubleValue":"-Infinity"}' in data
    a = attrs(spans(parse(data, fmt))[0])
    assert a["gen_ai.usage.input_cost"][1] != a["gen_ai.usage.input_cost"][1]
    assert a["gen_ai.usage.output_cost"] == ("double", float("inf"))
    assert a["gen_ai.usage.total_cost"] == ("double", float("-inf"))


def test_json_follows_otlp_not_proto3_json(impl):
    data = impl.encode_traces([attempts_record()], format="json")
    doc = json.loads(data)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    assert span["traceId"] == span["traceId"].lower() and len(span["traceId"]) == 32
    assert len(span["spanId"]) == 16 and len(span["parentSpanId"]) == 16
    assert span["kind"] == 3 and span["status"]["code"] == 2
    assert isinstance(span["startTimeUnixNano"], str)
    ints = [a["value"]["intValue"] for a in span["attributes"] if "intValue" in a["value"]]
    assert ints and all(isinstance(v, str) for v in ints)


def test_json_and_protobuf_describe_the_same_message(impl):
    recs = [full_record(i) for i in range(3)] + [attempts_record()]
    from_pb = parse_pb(impl.encode_traces(recs, format="protobuf"))
    from_json = parse_otlp_json(impl.encode_traces(recs, format="json"))
    assert as_dict(from_pb) == as_dict(from_json)
    assert len(spans(from_pb)) == 3 + 5


@pytest.mark.parametrize("fmt_", ["protobuf", "json"])
def test_empty_batch_is_an_empty_request(impl, fmt_):
    data = impl.encode_traces([], format=fmt_)
    assert data == (b"" if fmt_ == "protobuf" else b'{"resourceSpans":[]}')
    assert len(parse(data, fmt_).resource_spans) == 0
