"""The encoders' output, parsed by opentelemetry-proto, says exactly what the records say."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

import spancast
from conftest import attempts_record, full_record
from otlp import as_dict, attrs, parse, parse_otlp_json, parse_pb, spans


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def expected_gen_ai(rec) -> dict:
    """What the gen_ai flavour's generation span must carry for full_record(), written out by hand."""
    return {
        "gen_ai.operation.name": ("string", "chat"),
        "gen_ai.system": ("string", "openai"),
        "gen_ai.provider.name": ("string", "openai"),  # the conventions' well-known id, not "OpenAI"
        "gen_ai.request.model": ("string", rec.model),
        "gen_ai.response.model": ("string", rec.response_model),
        "gen_ai.response.id": ("string", rec.id),
        "gen_ai.response.finish_reasons": ("array", [("string", "stop")]),
        "gen_ai.response.native_finish_reason": ("string", "stop"),
        "gen_ai.conversation.id": ("string", "sess-7"),
        "gen_ai.usage.input_tokens": ("int", 1200),
        "gen_ai.usage.output_tokens": ("int", 300),
        "gen_ai.usage.total_tokens": ("int", 1500),
        "gen_ai.usage.cache_read.input_tokens": ("int", 1024),
        "gen_ai.usage.reasoning.output_tokens": ("int", 0),
        "gen_ai.usage.cost": ("double", 0.0075),
        "mlflow.llm.cost": ("string", '{"input_cost":0.003,"output_cost":0.0045,"total_cost":0.0075}'),
        "gen_ai.response.time_to_first_chunk": ("double", 412.5 * 0.001),
        "gen_ai.request.stream": ("bool", True),
        "gen_ai.request.temperature": ("double", 0.7),
        "gen_ai.request.max_tokens": ("int", 512),
        "gen_ai.request.top_p": ("double", 1.0),
        "gen_ai.request.stop": ("string", '["\\n\\n"]'),
        "gen_ai.api_key.name": ("string", "prod-key"),
        "trace.metadata.customer_tier": ("string", "gold"),
        "trace.metadata.retries": ("int", 2),
        "trace.metadata.ratio": ("double", 0.25),
        "trace.metadata.flag": ("bool", True),
        "trace.metadata.nested": ("string", '{"a":[1,2,{"b":null}]}'),
        "gen_ai.input.messages": ("string", _json([
            {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]} for m in rec.messages
        ])),
        "gen_ai.output.messages": ("string", _json([
            {"role": "assistant", "parts": [{"type": "text", "content": rec.completion}], "finish_reason": "stop"}
        ])),
        "output.value": ("string", rec.completion),
        "output.mime_type": ("string", "text/plain"),
    }


def test_generation_span_carries_every_field(impl, fmt, record):
    msg = parse(impl.encode_traces([record], format=fmt), fmt)
    assert len(msg.resource_spans) == 1
    rs = msg.resource_spans[0]
    assert attrs(rs.resource) == {"service.name": ("string", "spancast")}
    scope = rs.scope_spans[0].scope
    assert (scope.name, scope.version) == ("spancast", spancast.__version__)
    root, span = spans(msg)
    assert span.trace_id == root.trace_id == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert len(span.span_id) == 8 and any(span.span_id)
    # trace_name is the trace's root span; the generation is named after the model, as OpenRouter documents
    assert (root.name, root.parent_span_id, root.kind) == ("checkout-flow", b"", Span.SPAN_KIND_INTERNAL)
    assert attrs(root) == {"user.id": ("string", "user-42"), "session.id": ("string", "sess-7")}
    assert span.parent_span_id == root.span_id
    assert span.name == "openai/gpt-4o"
    assert span.kind == Span.SPAN_KIND_CLIENT
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (record.start_time_ns, record.end_time_ns)
    assert span.status.code == root.status.code == Status.STATUS_CODE_OK
    assert attrs(span) == expected_gen_ai(record)


def test_tool_calls_reasoning_and_tool_results_in_the_conventions_parts(impl, fmt):
    rec = full_record(
        completion=None, reasoning="think first", finish_reason="tool_calls",
        tool_calls=[{"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "find x"}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "call_1", "function": {"name": "search", "arguments": "not json"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
    )
    gen = spans(parse(impl.encode_traces([rec], format=fmt), fmt))[1]
    a = attrs(gen)
    assert json.loads(a["gen_ai.input.messages"][1]) == [
        {"role": "user", "parts": [{"type": "text", "content": "find x"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "search", "arguments": "not json"}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "found"}]},
    ]
    assert json.loads(a["gen_ai.output.messages"][1]) == [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "think first"},
        {"type": "tool_call", "id": "call_2", "name": "lookup", "arguments": {"q": "x"}},
    ], "finish_reason": "tool_call"}]
    assert "output.value" not in a  # a text it does not have


def test_span_tree_with_root_intermediate_span_attempts_and_hashed_ids(impl, fmt):
    rec = attempts_record()
    all_spans = spans(parse(impl.encode_traces([rec], format=fmt), fmt))
    # parent_span_id given: the generation's tree hangs under the caller's span, whose trace has its own root
    assert [s.name for s in all_spans] == [
        "agent-step",
        "openai/gpt-4o",
        "provider attempt 1: OpenAI",
        "provider attempt 2: Azure",
        "provider attempt 3: Together",
    ]
    mid, gen, a1, a2, a3 = all_spans
    assert len({s.trace_id for s in all_spans}) == 1 and len(gen.trace_id) == 16
    assert len({s.span_id for s in all_spans}) == 5
    assert mid.kind == Span.SPAN_KIND_INTERNAL and gen.kind == Span.SPAN_KIND_CLIENT
    assert len(mid.parent_span_id) == 8  # the hashed parent_span_id
    assert gen.parent_span_id == mid.span_id
    assert all(a.parent_span_id == gen.span_id for a in (a1, a2, a3))
    ga = attrs(gen)
    assert ga["spancast.original_trace_id"] == ("string", "workflow_12345")
    assert ga["spancast.original_parent_span_id"] == ("string", "not-hex")
    assert ga["error.type"] == ("string", "upstream_error")
    assert (gen.status.code, gen.status.message) == (Status.STATUS_CODE_ERROR, "All providers failed")
    (event,) = gen.events
    assert (event.name, event.time_unix_nano) == ("exception", rec.end_time_ns)
    assert attrs(event) == {"exception.type": ("string", "upstream_error"),
                            "exception.message": ("string", "All providers failed")}
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


def test_a_shared_trace_has_one_root_that_fails_with_any_of_its_calls(impl, fmt):
    base = dict(trace={"trace_id": "workflow_12345", "trace_name": "research"})
    recs = [full_record(1, **base), full_record(2, status="error", error_message="boom", **base), full_record(3, **base)]
    all_spans = spans(parse(impl.encode_traces(recs, format=fmt), fmt))
    roots = [s for s in all_spans if s.name == "research"]
    assert len(roots) == 1 and roots[0].status.code == Status.STATUS_CODE_ERROR
    gens = [s for s in all_spans if s.name == "openai/gpt-4o"]
    assert [g.parent_span_id for g in gens] == [roots[0].span_id] * 3
    # the root spans its calls
    assert roots[0].start_time_unix_nano == recs[0].start_time_ns and roots[0].end_time_unix_nano == recs[2].end_time_ns
    # each request holds the root once; another request repeats it under the same id
    again = spans(parse(impl.encode_traces(recs[:1], format=fmt), fmt))[0]
    assert (again.span_id, again.status.code) == (roots[0].span_id, Status.STATUS_CODE_OK)


def test_ids_are_deterministic_per_generation_and_distinct_across(impl):
    a, b = full_record(1, trace=None), full_record(2, trace=None)
    first = spans(parse_pb(impl.encode_traces([a, b])))
    again = spans(parse_pb(impl.encode_traces([a, b])))
    assert [(s.trace_id, s.span_id) for s in first] == [(s.trace_id, s.span_id) for s in again]
    assert first[0].trace_id != first[1].trace_id and first[0].span_id != first[1].span_id
    assert first[0].name == "openai/gpt-4o" and first[0].parent_span_id == b""  # no trace keys: no root span
    assert attrs(first[0])["user.id"] == ("string", "user-42")  # the generation is the trace's root


def test_given_ids_are_used_verbatim_and_invalid_ones_hashed(impl):
    given = full_record(trace={"trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736", "parent_span_id": "00f067aa0ba902b7"})
    (span,) = spans(parse_pb(impl.encode_traces([given])))  # a child of the caller's span: no root of ours
    assert span.trace_id == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert span.parent_span_id == bytes.fromhex("00f067aa0ba902b7")
    assert "spancast.original_trace_id" not in attrs(span)
    zero = full_record(trace={"trace_id": "0" * 32, "parent_span_id": "0" * 16})
    (span,) = spans(parse_pb(impl.encode_traces([zero])))
    assert any(span.trace_id) and any(span.parent_span_id)  # all-zero ids are invalid in W3C, so hashed
    assert attrs(span)["spancast.original_trace_id"] == ("string", "0" * 32)


def test_trace_name_and_generation_name_each_name_their_span(impl):
    rec = full_record(trace={"trace_name": "t", "generation_name": "g"})
    assert [s.name for s in spans(parse_pb(impl.encode_traces([rec])))] == ["t", "g"]
    # the openrouter flavour reproduces OpenRouter's tree: one span, named by generation_name, trace_name or
    # "LLM Generation", with trace_name as an attribute
    (span,) = spans(parse_pb(impl.encode_traces([rec], flavor="openrouter")))
    assert span.name == "g" and attrs(span)["trace.name"] == ("string", "t")
    (span,) = spans(parse_pb(impl.encode_traces([full_record(trace=None)], flavor="openrouter")))
    assert span.name == "LLM Generation"


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
    root, span = spans(parse(impl.encode_traces([rec], format=fmt, flavor="openinference"), fmt))
    assert attrs(root) == {"openinference.span.kind": ("string", "CHAIN"), "session.id": ("string", "sess-7"),
                           "user.id": ("string", "user-42")}
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
    assert meta["generation_id"] == rec.id


def test_openinference_tool_messages_tool_only_answers_and_reasoning(impl):
    rec = full_record(
        trace=None, completion=None, reasoning="hmm",
        tool_calls=[{"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
        messages=[{"role": "tool", "tool_call_id": "call_1", "name": "search", "content": "found"}],
        provider_attempts=[spancast.ProviderAttempt(provider="OpenAI", status=200)],
    )
    gen, attempt = spans(parse_pb(impl.encode_traces([rec], flavor="openinference")))
    a = attrs(gen)
    assert a["llm.input_messages.0.message.tool_call_id"] == ("string", "call_1")
    assert a["llm.input_messages.0.message.name"] == ("string", "search")
    assert json.loads(a["output.value"][1]) == rec.tool_calls and a["output.mime_type"][1] == "application/json"
    assert a["llm.output_messages.0.message.contents.0.message_content.type"] == ("string", "reasoning")
    assert a["llm.output_messages.0.message.contents.0.message_content.text"] == ("string", "hmm")
    assert a["session.id"] == ("string", "sess-7")  # no root span: the generation carries the trace's fields
    assert attrs(attempt)["openinference.span.kind"] == ("string", "LLM")


def test_plain_prompt_completion_in_openinference_is_text(impl):
    rec = full_record(messages=None, prompt="Once upon a time", operation="completion")
    a = attrs(spans(parse_pb(impl.encode_traces([rec], flavor="openinference")))[1])
    assert a["input.value"] == ("string", "Once upon a time")
    assert a["input.mime_type"] == ("string", "text/plain")
    assert not any(k.startswith("llm.input_messages") for k in a)


def test_absent_optional_fields_are_absent_attributes(impl, fmt):
    rec = spancast.Generation(id="gen-min", start_time_ns=5, end_time_ns=5, model="m")
    (span,) = spans(parse(impl.encode_traces([rec], format=fmt), fmt))
    assert span.name == "m"
    assert attrs(span) == {
        "gen_ai.operation.name": ("string", "chat"),
        "gen_ai.request.model": ("string", "m"),
        "gen_ai.response.model": ("string", "m"),
        "gen_ai.response.id": ("string", "gen-min"),
    }


def test_non_finite_doubles(impl, fmt):
    rec = full_record(input_cost=float("nan"), output_cost=float("inf"), total_cost=float("-inf"))
    data = impl.encode_traces([rec], format=fmt, flavor="openrouter")
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
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][2]
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
    # one root for the three records sharing a trace id; the attempts record hangs under its caller's span
    assert len(spans(from_pb)) == 1 + 3 + 5


@pytest.mark.parametrize("fmt_", ["protobuf", "json"])
def test_empty_batch_is_an_empty_request(impl, fmt_):
    data = impl.encode_traces([], format=fmt_)
    assert data == (b"" if fmt_ == "protobuf" else b'{"resourceSpans":[]}')
    assert len(parse(data, fmt_).resource_spans) == 0


def test_the_openrouter_flavour_carries_the_generation_metadata_groups_under_openrouters_keys(impl):
    from spancast.record import GenerationContext, GenerationCost, GenerationIdentity

    rec = full_record(trace=None, cache_write_tokens=300, cache_write_5m_tokens=100, cache_write_1h_tokens=200,
                      generation_cost=GenerationCost(upstream_cost=0.004, byok_cost=0.0, is_byok=True),
                      generation_identity=GenerationIdentity(app_name="checkout-app"),
                      generation_context=GenerationContext(router_latency_ms=12.5, provider_latency_ms=980.0))
    (span,) = spans(parse_pb(impl.encode_traces([rec], flavor="openrouter")))
    a = attrs(span)
    assert a["trace.metadata.openrouter_generation.usage_upstream"] == ("double", 0.004)
    assert a["trace.metadata.openrouter_generation.byok_usage_inference"] == ("double", 0.0)
    assert a["trace.metadata.openrouter_generation.is_byok"] == ("bool", True)
    assert a["trace.metadata.openrouter_generation.app.title"] == ("string", "checkout-app")
    assert a["trace.metadata.openrouter.router_latency_ms"] == ("double", 12.5)
    assert a["trace.metadata.openrouter.provider_request_ms"] == ("double", 980.0)
    assert a["gen_ai.usage.input_tokens.cache_write_5m"] == ("int", 100)
    assert a["gen_ai.usage.input_tokens.cache_write_1h"] == ("int", 200)
    from spancast.destinations.clickhouse import row

    assert json.loads(row(rec)["METADATA"]) == {
        "openrouter_generation": {"usage_upstream": 0.004, "byok_usage_inference": 0.0, "is_byok": True,
                                  "app": {"title": "checkout-app"}},
        "openrouter": {"router_latency_ms": 12.5, "provider_request_ms": 980.0}}
