"""Generation.from_openai on real openai response objects built offline: plain, streamed, failed, delivered."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import msgspec
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from sinkthread import SinkThread
from spancast import Broadcaster, Generation, ProviderAttempt, RecordError, decode_records
from spancast.testing.sink import OtlpSink

T0 = 1_750_000_000_000_000_000
T1 = T0 + 1_250_000_000
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": [{"type": "text", "text": "What is on this picture?"}, IMAGE]},
]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


def request(**overrides):
    return {
        "model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 256,
        "seed": 7, "stop": ["\n\n"], "frequency_penalty": 0.1, "presence_penalty": 0.0,
        "response_format": {"type": "text"}, "user": "user-42", "metadata": {"session_id": "sess-7", "feature": "vision"},
        "tools": TOOLS, "extra_headers": {"Authorization": "Bearer sk-secret"}, "timeout": 30, **overrides,
    }


def completion(**message) -> ChatCompletion:
    return ChatCompletion.model_validate({
        "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1_750_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "finish_reason": message.pop("finish_reason", "stop"),
                     "message": {"role": "assistant", "content": "A cat.", **message}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230,
                  "prompt_tokens_details": {"cached_tokens": 1024},
                  "completion_tokens_details": {"reasoning_tokens": 12}},
    })


def chunk(choices=(), usage=None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({
        "id": "chatcmpl-stream1", "object": "chat.completion.chunk", "created": 1_750_000_000,
        "model": "gpt-4o-2024-08-06", "choices": list(choices), "usage": usage,
    })


def delta(finish_reason=None, **fields):
    return {"index": 0, "delta": fields, "finish_reason": finish_reason}


def tool_delta(index, id=None, name=None, arguments=None):
    function = {k: v for k, v in (("name", name), ("arguments", arguments)) if v is not None}
    call = {"index": index, "function": function}
    if id:
        call.update(id=id, type="function")
    return delta(tool_calls=[call])


STREAM_USAGE = {"prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90,
                "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 8}}


def stream_chunks() -> list[ChatCompletionChunk]:
    """Text, reasoning (an OpenAI-compatible extra), and two tool calls whose deltas interleave."""
    return [
        chunk([delta(role="assistant", content="")]),
        chunk([delta(reasoning="Think ")]),
        chunk([delta(reasoning="first.")]),
        chunk([delta(content="Checking ")]),
        chunk([delta(content="both.")]),
        chunk([tool_delta(0, id="call_a", name="get_weather", arguments="")]),
        chunk([tool_delta(0, arguments='{"city": ')]),
        chunk([tool_delta(1, id="call_b", name="get_time", arguments='{"tz": "CET"}')]),
        chunk([tool_delta(0, arguments='"Paris"}')]),
        chunk([delta(finish_reason="tool_calls")]),
        chunk([], usage=STREAM_USAGE),  # stream_options={"include_usage": True}: empty choices
    ]


def status_error(cls=openai.RateLimitError, status=429, message="Rate limit reached for gpt-4o-mini"):
    req = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    body = {"error": {"message": message, "type": "requests", "code": "rate_limit_exceeded"}}
    resp = httpx.Response(status, request=req, json=body, headers={"x-request-id": "req_1"})
    return cls(message, response=resp, body=body["error"])


def test_a_chat_completion_maps_every_field():
    g = Generation.from_openai(request(), completion(), T0, T1)
    assert g == Generation(
        id="chatcmpl-abc123", start_time_ns=T0, end_time_ns=T1, model="gpt-4o-mini",
        response_model="gpt-4o-mini-2024-07-18", provider="openai", finish_reason="stop",
        native_finish_reason="stop", prompt_tokens=1200, completion_tokens=30, total_tokens=1230,
        cached_tokens=1024, reasoning_tokens=12, streamed=False,
        model_parameters={"temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 256, "seed": 7,
                          "stop": ["\n\n"], "frequency_penalty": 0.1, "presence_penalty": 0.0,
                          "response_format": {"type": "text"}},
        messages=MESSAGES, completion="A cat.", user="user-42", session_id="sess-7", trace={"feature": "vision"},
    )
    # credentials, tool definitions and client options are not model parameters
    assert "sk-secret" not in msgspec.json.encode(g).decode()


def test_objects_dumped_dicts_and_decoded_json_give_the_same_record():
    resp = completion()
    from_object = Generation.from_openai(request(), resp, T0, T1)
    assert Generation.from_openai(request(), resp.model_dump(), T0, T1) == from_object
    assert Generation.from_openai(request(), json.loads(resp.model_dump_json()), T0, T1) == from_object
    chunks = stream_chunks()
    from_chunks = Generation.from_openai(request(stream=True), chunks, T0, T1)
    assert Generation.from_openai(request(stream=True), [c.model_dump() for c in chunks], T0, T1) == from_chunks
    assert Generation.from_openai(request(stream=True), iter(chunks), T0, T1) == from_chunks


def test_tool_calls_reasoning_and_pydantic_messages():
    resp = completion(content=None, finish_reason="tool_calls", reasoning_content="The user wants weather.",
                      tool_calls=[{"id": "call_1", "type": "function",
                                   "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}])
    # the conversation goes on with the response's message object, as the client's docs show
    follow_up = [*MESSAGES, resp.choices[0].message, {"role": "tool", "tool_call_id": "call_1", "content": "21C"}]
    g = Generation.from_openai(request(messages=follow_up, metadata=None), resp, T0, T1)
    assert (g.finish_reason, g.completion, g.reasoning) == ("tool_calls", None, "The user wants weather.")
    assert g.tool_calls == [{"id": "call_1", "type": "function",
                             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert g.messages[2] == {"role": "assistant", "reasoning_content": "The user wants weather.",
                             "tool_calls": g.tool_calls}
    assert g.messages[3]["tool_call_id"] == "call_1" and g.session_id is None and g.trace is None
    assert g.streamed is False and Generation.from_openai(request(stream=True), resp, T0, T1).streamed is True


def test_a_stream_accumulates_text_reasoning_tool_call_deltas_and_the_usage_chunk():
    g = Generation.from_openai(request(stream=True, stream_options={"include_usage": True}), stream_chunks(),
                               T0, T1, first_token_time_ns=T0 + 412_500_000)
    assert (g.id, g.response_model, g.model, g.streamed) == ("chatcmpl-stream1", "gpt-4o-2024-08-06", "gpt-4o-mini", True)
    assert (g.completion, g.reasoning) == ("Checking both.", "Think first.")
    assert g.tool_calls == [
        {"type": "function", "id": "call_a", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"type": "function", "id": "call_b", "function": {"name": "get_time", "arguments": '{"tz": "CET"}'}},
    ]
    assert (g.finish_reason, g.native_finish_reason) == ("tool_calls", "tool_calls")
    assert (g.prompt_tokens, g.completion_tokens, g.total_tokens) == (50, 40, 90)
    assert (g.cached_tokens, g.reasoning_tokens) == (0, 8)
    assert g.time_to_first_token_ms == 412.5
    assert "stream" not in g.model_parameters and "stream_options" not in g.model_parameters


def test_a_stream_without_the_usage_chunk_has_no_token_counts():
    g = Generation.from_openai(request(stream=True), stream_chunks()[:-1], T0, T1)
    assert (g.prompt_tokens, g.completion_tokens, g.total_tokens) == (None, None, None)
    assert g.completion == "Checking both." and g.time_to_first_token_ms is None


def test_an_api_status_error_is_an_error_record_with_the_http_status():
    g = Generation.from_openai(request(stream=True), status_error(), T0, T1)
    assert (g.status, g.error_type, g.error_message) == ("error", "RateLimitError", "Rate limit reached for gpt-4o-mini")
    assert g.finish_reason == "error" and g.streamed is True
    assert g.id.startswith("gen-") and len(g.id) == 36
    assert g.provider_attempts == [ProviderAttempt(provider="openai", status=429, latency_ms=1250.0,
                                                   error="Rate limit reached for gpt-4o-mini")]
    assert g.messages == MESSAGES and g.completion is None and g.prompt_tokens is None
    assert Generation.from_openai(request(), status_error(), T0, T1).id != g.id  # generated per call


def test_a_connection_error_has_no_http_status_and_a_broken_stream_keeps_what_arrived():
    broken = openai.APIConnectionError(request=httpx.Request("POST", "https://api.openai.com/v1/chat/completions"))
    g = Generation.from_openai(request(), broken, T0, T1)
    assert (g.status, g.error_type, g.error_message, g.provider_attempts) == (
        "error", "APIConnectionError", "Connection error.", None)
    partial = Generation.from_openai(request(stream=True), stream_chunks()[:5], T0, T1, error=broken, cancelled=True)
    assert (partial.status, partial.completion, partial.reasoning) == ("error", "Checking both.", "Think first.")
    assert (partial.id, partial.finish_reason, partial.cancelled) == ("chatcmpl-stream1", "error", True)


def test_extra_sets_fields_merges_trace_and_none_removes_content():
    g = Generation.from_openai(
        request(), completion(), T0, T1, provider="azure", session_id="run-9", user="override",
        trace={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "feature": "ocr"}, api_key_name="team-a",
        total_cost=0.0042, messages=None, completion=None,
    )
    assert (g.provider, g.session_id, g.user, g.api_key_name, g.total_cost) == ("azure", "run-9", "override", "team-a", 0.0042)
    assert g.trace == {"feature": "ocr", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert g.messages is None and g.completion is None and g.prompt_tokens == 1200
    with pytest.raises(TypeError, match="sesion_id"):
        Generation.from_openai(request(), completion(), T0, T1, sesion_id="typo")


def test_client_sentinels_are_unset_and_long_identifiers_are_clipped():
    g = Generation.from_openai(request(temperature=openai.NOT_GIVEN, seed=openai.omit, user="u" * 300),
                               completion(), T0, T1)
    assert "temperature" not in g.model_parameters and "seed" not in g.model_parameters
    assert g.user == "u" * 256


def test_invalid_input_raises_a_record_error_naming_the_field():
    bad_usage = completion().model_dump()
    bad_usage["usage"]["prompt_tokens"] = -5
    with pytest.raises(RecordError) as err:
        Generation.from_openai(request(), bad_usage, T0, T1)
    assert err.value.field == "prompt_tokens"
    with pytest.raises(RecordError) as err:
        Generation.from_openai(request(), completion(), T1, T0)
    assert err.value.field == "end_time_ns"
    with pytest.raises(RecordError) as err:
        Generation.from_openai(request(), stream_chunks(), T0, T1, first_token_time_ns=T0 - 1)
    assert err.value.field == "time_to_first_token_ms"
    with pytest.raises(TypeError):
        Generation.from_openai([("model", "x")], completion(), T0, T1)
    responses_api = {"id": "resp_1", "object": "response", "output": [], "usage": {"input_tokens": 3}}
    with pytest.raises(TypeError, match="got response"):
        Generation.from_openai(request(), responses_api, T0, T1)
    with pytest.raises(TypeError, match="got str"):
        Generation.from_openai(request(), "A cat.", T0, T1)


def test_records_round_trip_through_msgspec_json_and_decode_records():
    records = [Generation.from_openai(request(), completion(), T0, T1),
               Generation.from_openai(request(stream=True), stream_chunks(), T0, T1, first_token_time_ns=T0 + 1),
               Generation.from_openai(request(), status_error(), T0, T1)]
    for g in records:
        assert msgspec.json.decode(msgspec.json.encode(g), type=Generation) == g
    decoded = decode_records(msgspec.json.encode(records))
    assert decoded.errors == [] and decoded.records == records


def test_records_are_delivered_through_a_broadcaster_as_otlp_spans():
    records = [Generation.from_openai(request(), completion(), T0, T1),
               Generation.from_openai(request(stream=True), stream_chunks(), T0, T1, first_token_time_ns=T0 + 500_000_000),
               Generation.from_openai(request(), status_error(), T0, T1)]
    with SinkThread(OtlpSink()) as sink:
        with Broadcaster([{"type": "otel-collector", "endpoint": sink.url}]) as b:
            assert all(b.emit(r) for r in records)
            assert b.flush(10)
        every = [s for r in sink.received for s in r.spans]
        assert sink.problems == []
    spans = {s["attributes"]["gen_ai.response.id"]: s for s in every if "gen_ai.response.id" in s["attributes"]}
    assert sorted(spans) == sorted(r.id for r in records)
    plain = spans["chatcmpl-abc123"]["attributes"]
    assert plain["gen_ai.request.model"] == "gpt-4o-mini" and plain["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert (plain["gen_ai.usage.input_tokens"], plain["gen_ai.usage.cache_read.input_tokens"]) == (1200, 1024)
    assert (plain["gen_ai.request.temperature"], plain["gen_ai.conversation.id"]) == (0.2, "sess-7")
    assert plain["trace.metadata.feature"] == "vision"
    assert records[0].messages[1]["content"][1] == IMAGE  # the record keeps the part; the destination gets a placeholder
    assert json.loads(plain["gen_ai.input.messages"])[1]["parts"][1] == {  # a part of its own type
        "type": "stripped", "kind": "image", "media_type": "image/png", "size_bytes": 8}
    streamed = spans["chatcmpl-stream1"]["attributes"]
    assert streamed["gen_ai.request.stream"] is True and streamed["gen_ai.response.time_to_first_chunk"] == 0.5
    (output,) = json.loads(streamed["gen_ai.output.messages"])
    assert output["parts"][:2] == [{"type": "reasoning", "content": "Think first."},
                                   {"type": "text", "content": "Checking both."}]
    assert output["parts"][2]["name"] == "get_weather" and output["parts"][2]["type"] == "tool_call"
    failed = spans[records[2].id]["attributes"]
    assert failed["error.type"] == "RateLimitError" and failed["gen_ai.response.finish_reasons"] == ["error"]
    attempts = [s for s in every if s["name"].startswith("provider attempt")]
    assert [(s["name"], s["attributes"]["http.response.status_code"]) for s in attempts] == [
        ("provider attempt 1: openai", 429)]
    assert attempts[0]["parent_span_id"] == spans[records[2].id]["span_id"]


def test_the_builder_works_on_plain_dicts_without_openai_imported():
    code = (
        "import sys\n"
        "from spancast import Generation\n"
        "resp = {'id': 'x1', 'model': 'm-1', 'choices': [{'index': 0, 'finish_reason': 'length',"
        " 'message': {'role': 'assistant', 'content': 'hi'}}], 'usage': {'prompt_tokens': 3, 'completion_tokens': 1}}\n"
        "g = Generation.from_openai({'model': 'm', 'messages': [{'role': 'user', 'content': 'x'}]}, resp, 1, 2)\n"
        "assert (g.id, g.completion, g.finish_reason, g.total_tokens) == ('x1', 'hi', 'length', 4), g\n"
        "assert 'openai' not in sys.modules, 'openai was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "ok\n", out.stderr
