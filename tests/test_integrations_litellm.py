"""The LiteLLM callback, driven by litellm itself (mock responses, no network): payload in, records out."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported: no cost-map fetch

import litellm
import msgspec
import pytest
from litellm.integrations.custom_logger import CustomLogger

from sinkthread import SinkThread
from spancast import Broadcaster, Generation, decode_records
from spancast.integrations.litellm import SpancastLogger, generation_from_litellm
from spancast.testing.sink import OtlpSink

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
WAIT_S = 20.0


class Collector:
    """An emit callable that a test can wait on: each record arrives from LiteLLM's callback threads."""

    def __init__(self) -> None:
        self.records: list[Generation] = []
        self._changed = threading.Condition()

    def __call__(self, record: Generation) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait(self, count: int) -> list[Generation]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.records) >= count, WAIT_S), self.records
            return list(self.records)


class Payloads(CustomLogger):
    """Keeps the callback kwargs LiteLLM built, to compare each record with its own payload."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict] = []

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.kwargs.append(kwargs)

    log_failure_event = log_success_event

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.kwargs.append(kwargs)

    async_log_failure_event = async_log_success_event

    def payload(self, record_id: str) -> dict:
        return next(k["standard_logging_object"] for k in self.kwargs if k["standard_logging_object"]["id"] == record_id)


@pytest.fixture
def registered():
    """Register callbacks on litellm for one test and take them all out again afterwards."""
    added = []

    def register(*callbacks):
        for cb in callbacks:
            litellm.callbacks.append(cb)
            added.append(cb)

    yield register
    for cb in added:
        litellm.logging_callback_manager.remove_callback_from_all_lists(cb)


@pytest.fixture
def collected(registered):
    """(collector, logger, payloads): payloads registered first, so it has run when a record arrives."""
    collector, payloads = Collector(), Payloads()
    logger = SpancastLogger(collector)
    registered(payloads, logger)
    return collector, logger, payloads


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def test_a_completion_becomes_a_record_with_usage_costs_and_request_metadata(collected):
    collector, logger, payloads = collected
    response = litellm.completion(
        model="gpt-4o-mini", messages=MESSAGES, mock_response="hello", temperature=0.2, max_tokens=50,
        metadata={"session_id": "sess-1", "trace_name": "greeting", "generation_name": "say-hello"},
    )
    (g,) = collector.wait(1)
    p = payloads.payload(g.id)
    assert g.id == response.id == p["id"]
    assert (g.start_time_ns, g.end_time_ns) == (ns(p["startTime"]), ns(p["endTime"]))
    assert (g.model, g.response_model, g.provider, g.operation) == ("gpt-4o-mini", "gpt-4o-mini", "openai", "chat")
    assert (g.status, g.finish_reason, g.completion, g.streamed) == ("ok", "stop", "hello", False)
    assert g.messages == MESSAGES
    assert (g.prompt_tokens, g.completion_tokens, g.total_tokens) == (p["prompt_tokens"], p["completion_tokens"], p["total_tokens"])
    assert g.total_tokens == g.prompt_tokens + g.completion_tokens > 0
    assert g.total_cost == p["response_cost"] > 0
    assert (g.input_cost, g.output_cost) == (p["cost_breakdown"]["input_cost"], p["cost_breakdown"]["output_cost"])
    assert g.input_cost + g.output_cost == pytest.approx(g.total_cost)
    assert g.model_parameters == {"temperature": 0.2, "max_tokens": 50}
    assert g.session_id == "sess-1" and g.time_to_first_token_ms is None
    assert g.trace == {"trace_id": p["trace_id"], "trace_name": "greeting", "generation_name": "say-hello"}
    assert (logger.emitted, logger.failed) == (1, 0)


def test_gateway_metadata_maps_to_key_user_session_model_group_and_tags(collected):
    collector, _, payloads = collected
    litellm.completion(
        model="gpt-4o-mini", messages=MESSAGES, mock_response="hi", user="sdk-user",
        metadata={"user_api_key_hash": "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b",
                  "user_api_key_alias": "prod-key", "user_api_key_end_user_id": "end-user-9",
                  "requester_metadata": {"session_id": "conv-3", "span_name": "retrieval"},
                  "model_group": "fast-chat", "tags": ["team:search", "prod"]},
    )
    (g,) = collector.wait(1)
    p = payloads.payload(g.id)
    assert p["metadata"]["user_api_key_alias"] == "prod-key" and p["end_user"] == "end-user-9"  # litellm's own fields
    assert g.api_key_hash == "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    assert (g.api_key_name, g.user, g.session_id) == ("prod-key", "end-user-9", "conv-3")
    assert (g.model, g.response_model) == ("fast-chat", "gpt-4o-mini")
    assert g.trace == {"trace_id": p["trace_id"], "span_name": "retrieval", "tags": ["team:search", "prod"]}


def test_the_sdk_user_and_litellm_session_id_are_used_when_there_is_no_gateway(collected, monkeypatch):
    collector, _, payloads = collected
    monkeypatch.setattr(litellm, "request_correlation_in_logs", True)  # payload.session_id is filled
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hi", user="sdk-user",
                       litellm_session_id="litellm-sess", litellm_trace_id="trace-77")
    (g,) = collector.wait(1)
    assert payloads.payload(g.id)["session_id"] == "litellm-sess"
    assert (g.user, g.session_id, g.trace) == ("sdk-user", "litellm-sess", {"trace_id": "trace-77"})


def test_a_stream_is_one_record_with_the_time_to_first_token(collected):
    collector, _, payloads = collected
    stream = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hello there", stream=True,
                                stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    (g,) = collector.wait(1)
    p = payloads.payload(g.id)
    assert text == g.completion == "hello there" and g.streamed is True
    assert g.time_to_first_token_ms == (ns(p["completionStartTime"]) - ns(p["startTime"])) / 1e6
    assert 0 <= g.time_to_first_token_ms <= (g.end_time_ns - g.start_time_ns) / 1e6
    assert g.total_tokens == p["total_tokens"] > 0 and g.total_cost == p["response_cost"]


def test_tool_calls_in_the_response(collected):
    collector, _, _ = collected
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="", mock_tool_calls=[call])
    (g,) = collector.wait(1)
    assert g.tool_calls == [call]


def test_failures_are_error_records_with_the_http_status(collected):
    collector, logger, payloads = collected
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES,
                           mock_response=litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o-mini"))
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response=Exception("upstream broke"))
    limited, broken = collector.wait(2)
    for g, error_type, status in ((limited, "RateLimitError", 429), (broken, "InternalServerError", 500)):
        p = payloads.payload(g.id)
        assert (g.status, g.error_type, g.finish_reason) == ("error", error_type, "error")
        assert g.error_message == p["error_information"]["error_message"] == p["error_str"]
        assert [(a.provider, a.status) for a in g.provider_attempts] == [("openai", status)]
        assert (g.prompt_tokens, g.completion_tokens, g.completion) == (None, None, None)
        assert g.messages == MESSAGES and g.model == "gpt-4o-mini"
    assert "slow down" in limited.error_message and "upstream broke" in broken.error_message
    assert (logger.emitted, logger.failed) == (2, 0)


def test_async_calls_use_the_async_hooks_once_each(collected):
    collector, logger, _ = collected

    async def calls():
        ok = await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response="async hello")
        stream = await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response="streamed", stream=True)
        async for _ in stream:
            pass
        with pytest.raises(litellm.InternalServerError):
            await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response=Exception("nope"))
        # LiteLLM runs async callbacks as tasks on this loop: keep it alive until they have run
        while len(collector.records) < 3:
            await asyncio.sleep(0.005)
        return ok

    ok = asyncio.run(asyncio.wait_for(calls(), WAIT_S))
    records = collector.wait(3)
    by_text = {g.completion: g for g in records}
    assert by_text["async hello"].id == ok.id and by_text["async hello"].streamed is False
    assert by_text["streamed"].streamed is True and by_text["streamed"].time_to_first_token_ms is not None
    assert by_text[None].status == "error"
    assert {g.operation for g in records} == {"chat"}
    assert len({g.id for g in records}) == 3 and logger.emitted == 3


def test_embeddings_and_text_completions_name_their_operation(collected):
    collector, _, payloads = collected
    litellm.embedding(model="text-embedding-3-small", input=["first", "second"], mock_response=[0.1, 0.2])
    litellm.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi", mock_response="hi")
    records = {g.operation: g for g in collector.wait(2)}
    embedding, text = records["embeddings"], records["completion"]
    assert embedding.completion is None and embedding.prompt_tokens == payloads.payload(embedding.id)["prompt_tokens"] > 0
    assert [m["content"] for m in embedding.messages] == ["first", "second"]
    assert (text.completion, text.finish_reason, text.messages) == ("hi", "stop", [{"role": "user", "content": "Say hi"}])


def test_cache_counts_and_costs_come_from_the_response_usage_and_the_breakdown(collected):
    collector, _, payloads = collected
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hello")
    (g,) = collector.wait(1)
    payload = json.loads(json.dumps(payloads.payload(g.id)))  # a copy to edit
    payload["response"]["usage"].update(prompt_tokens_details={"cached_tokens": 6}, cache_creation_input_tokens=2,
                                        completion_tokens_details={"reasoning_tokens": 4})
    payload["cost_breakdown"].update(input_cost=1e-6, cache_read_cost=2e-7, cache_creation_cost=5e-7, output_cost=3e-6)
    g = generation_from_litellm(payload)
    assert (g.cached_tokens, g.cache_write_tokens, g.reasoning_tokens) == (6, 2, 4)
    assert g.input_cost == pytest.approx(1.7e-6) and g.output_cost == 3e-6
    payload["response_cost_failure_debug_info"] = {"error_str": "no price", "traceback_str": ""}
    assert generation_from_litellm(payload).total_cost is None  # LiteLLM's 0.0 means "unknown" here
    payload["id"] = ""
    assert generation_from_litellm(payload).id == payload["response"]["id"]


def test_a_broken_payload_is_counted_and_logged_once_per_field_never_raised(collected, caplog):
    collector, _, payloads = collected
    litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hello")
    collector.wait(1)
    kwargs = payloads.kwargs[0]

    def broken(**changes):
        payload = {**kwargs["standard_logging_object"], **changes}
        return {**kwargs, "standard_logging_object": payload}

    logger = SpancastLogger(Collector())
    with caplog.at_level(logging.WARNING, logger="spancast.integrations.litellm"):
        logger.log_success_event({"no": "payload"}, None, None, None)
        logger.log_success_event(None, None, None, None)
        logger.log_failure_event(broken(startTime="yesterday"), None, None, None)
        asyncio.run(logger.async_log_success_event(broken(prompt_tokens=-3), None, None, None))
        asyncio.run(logger.async_log_failure_event(broken(prompt_tokens=-4), None, None, None))
        logger.log_success_event(broken(end_user="u" * 300, response=["not", "a", "dict"]), None, None, None)
    assert (logger.failed, logger.emitted) == (5, 1)  # the long user is clipped, the odd response ignored
    assert logger._emit.records[0].user == "u" * 256 and logger._emit.records[0].completion is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3
    assert [w.split(": ")[2] for w in warnings] == ["standard_logging_object", "start_time_ns", "prompt_tokens"]
    assert not any("Say hello" in w or "Be brief" in w for w in warnings)


def test_an_emit_that_raises_never_reaches_the_caller(registered):
    def exploding(record):
        raise RuntimeError("backend down")

    failing, after = SpancastLogger(exploding, name="failing"), Collector()
    registered(failing, SpancastLogger(after))  # `after` runs once `failing` has returned
    response = litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="still fine")
    after.wait(1)
    assert response.choices[0].message.content == "still fine"
    assert (failing.failed, failing.emitted) == (1, 0)
    with pytest.raises(TypeError):
        SpancastLogger(object())
    with pytest.raises(TypeError, match="sesion_id"):
        SpancastLogger(after, sesion_id="typo")


def test_records_round_trip_and_are_delivered_through_a_broadcaster(registered):
    served = SinkThread(OtlpSink())
    with served as sink:
        with Broadcaster([{"type": "otel-collector", "endpoint": sink.url}]) as b:
            collector = Collector()
            # the broadcaster's logger runs first: once the collector has the record, it was emitted
            registered(SpancastLogger(b, name="otlp", trace={"environment": "test"}), SpancastLogger(collector))
            litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="hello",
                               metadata={"session_id": "sess-otlp", "user_api_key_alias": "ci-key"})
            (g,) = collector.wait(1)
            assert b.flush(10)
        served.wait_for(lambda s: g.id in s.generation_ids())
        spans = served.call(lambda s: [span for r in s.received for span in r.spans])
        assert served.call(lambda s: s.problems) == []
    assert msgspec.json.decode(msgspec.json.encode(g), type=Generation) == g
    assert decode_records(msgspec.json.encode([g])).records == [g]
    (span,) = [s for s in spans if "gen_ai.response.id" in s["attributes"]]  # besides its trace's root, if drawn
    attrs = span["attributes"]
    assert attrs["gen_ai.response.id"] == g.id and attrs["gen_ai.conversation.id"] == "sess-otlp"
    assert attrs["gen_ai.api_key.name"] == "ci-key" and attrs["trace.metadata.environment"] == "test"
    assert attrs["gen_ai.usage.cost"] == g.total_cost and attrs["gen_ai.usage.input_tokens"] == g.prompt_tokens
    assert json.loads(attrs["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "hello"}]
    assert [m["parts"][0]["content"] for m in json.loads(attrs["gen_ai.input.messages"])] == [
        m["content"] for m in MESSAGES]
