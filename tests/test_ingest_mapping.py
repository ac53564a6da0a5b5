"""OTLP spans to records: each convention's mapping, OpenRouter's documented payload, and the round trip
spancast rendering -> spancast ingest, which must give back the same records."""

from __future__ import annotations

import orjson
import pytest

from spancast import Generation, ProviderAttempt
from spancast.codec import encode_traces
from spancast.ingest import read_traces

import otlp_payloads as P
from conftest import full_record

PROTOBUF, JSON = "application/x-protobuf", "application/json"


def records_of(doc: dict) -> dict[str, Generation]:
    out = read_traces(orjson.dumps(doc), JSON)
    assert out.errors == []
    return {r.id: r for _, r in out.records}


def test_openrouter_documented_payload_comes_back_with_its_metadata_costs_and_attempts():
    # Doc-based evidence (see otlp_payloads.py): OpenRouter's Broadcast as its documentation describes it.
    out = read_traces(orjson.dumps(P.OPENROUTER), JSON)
    assert out.errors == [] and out.other == [] and out.folded == 2
    ok, failed = (r for _, r in out.records)
    assert (ok.id, ok.model, ok.response_model, ok.provider) == (
        "gen-1732000000-abcdef", "openai/gpt-4o", "openai/gpt-4o-2024-08-06", "OpenAI")
    assert (ok.prompt_tokens, ok.completion_tokens, ok.total_tokens, ok.cached_tokens, ok.cache_write_tokens,
            ok.reasoning_tokens) == (1200, 300, 1500, 1024, 15, 20)
    assert (ok.input_cost, ok.output_cost, ok.total_cost) == (0.003, 0.0045, 0.0075)
    assert (ok.finish_reason, ok.native_finish_reason, ok.time_to_first_token_ms) == ("stop", "STOP", 412.5)
    assert (ok.user, ok.session_id, ok.api_key_name) == ("user-42", "sess-7", "prod-key")
    assert ok.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is OTLP?"}]
    assert ok.completion == "OTLP is the OpenTelemetry Protocol."
    # trace metadata keys go back into trace, OpenRouter's own included; copies (span.metadata.*,
    # trace.input, ...) and the keys that became fields do not
    assert ok.trace == {"trace_id": P.TRACE, "trace_name": "checkout-flow", "customer_tier": "gold",
                        "openrouter.router_latency_ms": 12.0, "openrouter_generation.usage": 0.0075,
                        "openrouter_generation.is_byok": False}
    assert ok.provider_attempts == [ProviderAttempt(provider="Azure", status=503, latency_ms=120.5, error="overloaded"),
                                    ProviderAttempt(provider="OpenAI", status=200, latency_ms=1129.5)]
    assert (failed.status, failed.error_message, failed.completion) == ("error", "Provider returned error", None)


def test_older_genai_keys_and_traceloop_indexed_messages():
    (record,) = records_of(P.OLD_GENAI).values()
    assert (record.model, record.response_model, record.provider) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "OpenAI")
    assert (record.prompt_tokens, record.completion_tokens, record.total_tokens) == (12, 5, 17)
    assert record.messages == [{"role": "user", "content": "Hello"}]
    assert (record.completion, record.finish_reason, record.streamed) == ("Hi!", "stop", True)
    assert record.model_parameters == {"temperature": 0.5}
    # user and session come from the agent span around the call; its name is the trace's
    assert (record.user, record.session_id) == ("u-7", "conv-1")
    assert record.trace["trace_name"] == "agent run" and record.trace["generation_name"] == "openai.chat"
    assert record.trace["parent_span_id"] == "aaaaaaaaaaaaaaaa"
    # unmapped attributes are kept as metadata; association properties too
    assert record.trace["server.address"] == "api.openai.com" and record.trace["customer"] == "acme"


def test_openinference_flattened_messages_tool_calls_and_metadata():
    out = read_traces(orjson.dumps(P.OPENINFERENCE), JSON)
    ((_, record),), (chain,) = out.records, out.other
    assert chain.name == "my-chain"  # a CHAIN span is not an LLM call
    assert (record.model, record.response_model, record.provider) == ("gpt-4o", "gpt-4o-2024-08-06", "openai")
    assert record.messages == [{"role": "user", "content": "Weather in Paris?"}]
    assert record.tool_calls == [{"type": "function", "id": "call_1",
                                  "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert (record.total_cost, record.session_id, record.model_parameters) == (0.0001, "s-9", {"temperature": 0.1})
    assert record.trace["team"] == "search"


def test_current_genai_conventions_parts_and_errors():
    doc = P.request(P.span("eeeeeeeeeeeeeeee", "chat gpt-4o", P.attrs(
        gen_ai__operation__name="chat", gen_ai__provider__name="openai", gen_ai__request__model="gpt-4o",
        gen_ai__input__messages='[{"role":"user","parts":[{"type":"text","content":"2+2?"}]},'
                                '{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":{"ok":1}}]}]',
        gen_ai__system_instructions='[{"type":"text","content":"You add."}]',
        gen_ai__output__messages='[{"role":"assistant","finish_reason":"tool_call","parts":[{"type":"reasoning",'
                                 '"content":"think"},{"type":"tool_call","id":"c2","name":"add","arguments":{"a":2}}]}]',
        gen_ai__usage__cache_read__input_tokens=P.i(3), gen_ai__usage__reasoning__output_tokens=P.i(4),
        gen_ai__response__time_to_first_chunk=P.d(0.25), gen_ai__conversation__id="conv-2",
        error__type="timeout",
    ), status={"code": 2}, events=[{"name": "exception", "timeUnixNano": "1", "attributes": P.attrs(
        exception__type="TimeoutError", exception__message="read timed out")}]))
    (record,) = records_of(doc).values()
    assert record.messages == [{"role": "system", "content": "You add."}, {"role": "user", "content": "2+2?"},
                               {"role": "tool", "tool_call_id": "c1", "content": '{"ok":1}'}]
    assert record.tool_calls == [{"type": "function", "id": "c2", "function": {"name": "add", "arguments": '{"a":2}'}}]
    assert (record.reasoning, record.completion, record.finish_reason) == ("think", None, "tool_call")
    assert (record.cached_tokens, record.reasoning_tokens, record.time_to_first_token_ms) == (3, 4, 250.0)
    assert (record.status, record.error_type, record.error_message) == ("error", "timeout", "read timed out")
    assert record.session_id == "conv-2" and record.id == "eeeeeeeeeeeeeeee"  # no response id: the span's


def test_a_bad_span_is_named_by_field_and_the_others_still_map():
    good = P.span("0000000000000001", "chat", P.attrs(gen_ai__request__model="m", gen_ai__operation__name="chat"))
    bad_tokens = P.span("0000000000000002", "chat", P.attrs(gen_ai__request__model="m",
                                                            gen_ai__usage__input_tokens="many"))
    no_model = P.span("0000000000000003", "x", P.attrs(gen_ai__operation__name="chat"))
    bad_id = dict(good, spanId="zz")
    long_user = P.span("0000000000000004", "chat", P.attrs(gen_ai__request__model="m", user__id="u" * 300))
    out = read_traces(orjson.dumps(P.request(good, bad_tokens, no_model, bad_id, long_user)), JSON)
    assert [r.id for _, r in out.records] == ["0000000000000001"]
    where = "resourceSpans[0].scopeSpans[0].spans[{}]"
    assert [(i, w, f) for i, w, f, _ in out.errors] == [
        (1, where.format(1), "gen_ai.usage.input_tokens"), (2, where.format(2), "gen_ai.request.model"),
        (3, where.format(3), "spanId"), (4, where.format(4), "user")]


# ---------------------------------------------------------------- the round trip

#: Flavours whose rendering spancast's ingest reads back to the same records. After the openrouter
#: flavour lands (issue 14), add "openrouter" here.
ROUND_TRIP_FLAVORS = ["gen_ai", "openrouter"]


def round_trip_records() -> list[Generation]:
    """Records a flavour can carry: names as generation_name, scalar metadata, latencies on attempts."""
    chat = full_record(1, trace={"trace_id": P.TRACE, "generation_name": "checkout-answer", "customer_tier": "gold",
                                 "retries": 2, "ratio": 0.25, "flag": True},
                       model_parameters={"temperature": 0.7, "max_tokens": 512, "top_p": 1.0, "stop": ["\n\n"]},
                       cache_write_tokens=7, reasoning_tokens=11, cancelled=False)
    failed = full_record(2, status="error", error_type="upstream_error", error_message="All providers failed",
                         completion=None, trace={"trace_id": "workflow_12345", "parent_span_id": "00f067aa0ba902b7",
                                                 "generation_name": "agent-step"},
                         provider_attempts=[ProviderAttempt(provider="OpenAI", status=503, latency_ms=120.5, error="overloaded"),
                                            ProviderAttempt(provider="Azure", status=200, latency_ms=300.0)])
    tools = full_record(3, completion=None, finish_reason="tool_calls",
                        tool_calls=[{"id": "call_1", "type": "function",
                                     "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
                        trace={"generation_name": "tool-turn"})
    return [chat, failed, tools]


#: What the comparison covers: every field the records above set.
COMPARED = ("id", "start_time_ns", "end_time_ns", "model", "response_model", "operation", "status", "error_type",
            "error_message", "finish_reason", "native_finish_reason", "prompt_tokens", "completion_tokens",
            "total_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "input_cost", "output_cost",
            "total_cost", "streamed", "model_parameters", "messages", "prompt", "completion", "reasoning",
            "tool_calls", "user", "session_id", "api_key_name", "provider_attempts")


def draws_roots(flavor: str) -> bool:
    """Whether the flavour draws a root span for a trace its records name or share (issue 14's plans do)."""
    from spancast.codec import get_plan

    return bool(getattr(get_plan(flavor), "root_span", False))


@pytest.mark.parametrize("fmt", ["protobuf", "json"])
@pytest.mark.parametrize("flavor", ROUND_TRIP_FLAVORS)
def test_round_trip_spancast_rendering_to_spancast_ingest(flavor, fmt):
    sent = round_trip_records()
    body = encode_traces(sent, format=fmt, flavor=flavor)
    out = read_traces(bytes(body), PROTOBUF if fmt == "protobuf" else JSON)
    assert out.errors == []
    roots = {span.span_id: span for span in out.other}
    if not draws_roots(flavor):
        assert out.other == []
    back = {r.id: r for _, r in out.records}
    assert sorted(back) == sorted(r.id for r in sent)
    for original in sent:
        got = back[original.id]
        for field in COMPARED:
            assert getattr(got, field) == getattr(original, field), field
        assert got.provider.lower() == original.provider.lower()  # a flavour may write the provider's id
        assert got.time_to_first_token_ms == pytest.approx(original.time_to_first_token_ms)
        # trace: ids (a text trace id comes back as the text), names and custom metadata
        expected = {k: v for k, v in original.trace.items()}
        if "trace_id" not in expected:  # none given: the one spancast derived from the record id
            expected["trace_id"] = got.trace["trace_id"]
        trace = dict(got.trace)
        root = roots.get(trace.get("parent_span_id", ""))
        if root is not None:  # a root span the flavour drew: the record's parent; it has the record's own parent
            del trace["parent_span_id"]
            assert root.parent_span_id == expected.pop("parent_span_id", "")
            if not root.parent_span_id:  # the trace's root in this request: its name is the trace's
                assert trace.pop("trace_name") == root.name
        assert trace == expected
    assert all(span.span_id in {r.trace.get("parent_span_id") for r in back.values()} for span in out.other)


# ---------------------------------------------------------------- hostile input: a body error or spans, never a crash

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from spancast.ingest import BodyError  # noqa: E402

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
_values = st.recursive(_scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.sampled_from(["stringValue", "intValue", "doubleValue", "boolValue", "arrayValue", "kvlistValue", "bytesValue",
                     "values", "key", "value", "x"]), kids, max_size=3), max_leaves=12)
_keys = st.sampled_from(["gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.input.messages", "gen_ai.prompt",
                         "llm.invocation_parameters", "openinference.span.kind", "input.value", "output.value",
                         "trace.metadata.x", "span.type", "gen_ai.operation.name", "user.id", "x"])
_attribute = st.fixed_dictionaries({"key": _keys, "value": _values | st.fixed_dictionaries(
    {"stringValue": st.sampled_from(["chat", "LLM", "GENERATION", "m", "[1", '{"messages": 3}', "[{}]"])})})
_span = st.fixed_dictionaries({}, optional={
    "traceId": st.sampled_from([P.TRACE, "zz", "", 7]), "spanId": st.sampled_from(["00f067aa0ba902b7", "short", None]),
    "parentSpanId": st.sampled_from(["00f067aa0ba902b7", "1111111111111111", ""]), "name": _scalars,
    "startTimeUnixNano": st.sampled_from(["1", "-5", "x", 2**70, 5]), "endTimeUnixNano": st.sampled_from(["2", 1, None]),
    "attributes": st.lists(_attribute, max_size=6) | _values, "status": _values, "events": _values, "kind": _values})
_document = st.fixed_dictionaries({"resourceSpans": st.lists(st.fixed_dictionaries({}, optional={
    "resource": _values, "scopeSpans": st.lists(st.fixed_dictionaries({}, optional={
        "scope": _values, "spans": st.lists(_span, max_size=4)}), max_size=2)}), max_size=2)}) | _values


def _one_attribute(value):
    return {"resourceSpans": [{"resource": None, "scopeSpans": [{"spans": [{"attributes": [
        {"key": "gen_ai.request.model", "value": value}]}]}]}]}


@given(_document)
@example(_one_attribute({"kvlistValue": True}))  # found by this test: an AttributeError escaped, not a span error
@example(_one_attribute({"arrayValue": True}))
@example(_one_attribute({"arrayValue": {"values": 3}}))
@example(_one_attribute({"kvlistValue": {"values": {"key": "k"}}}))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_json_is_a_body_error_or_spans_never_a_crash(doc):
    try:
        out = read_traces(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS), JSON)
    except (BodyError, orjson.JSONEncodeError):
        return
    assert len(out.records) + len(out.errors) + len(out.other) + out.folded == out.spans
    for _, where, field, reason in out.errors:
        assert where.startswith("resourceSpans[") and field and reason


@given(st.binary(max_size=200) | st.builds(lambda r, cut: r[:cut], st.just(bytes(encode_traces(
    [full_record(1)], format="protobuf"))), st.integers(min_value=0, max_value=4000)))
@settings(max_examples=300, deadline=None)
def test_any_bytes_as_protobuf_are_a_body_error_or_spans_never_a_crash(data):
    try:
        out = read_traces(data, PROTOBUF)
    except BodyError:
        return
    assert len(out.records) + len(out.errors) + len(out.other) + out.folded == out.spans
