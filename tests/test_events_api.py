"""The three JSON event-API destinations (PostHog, Raindrop, Datadog), field by field.

The contract suite (tests/test_contract.py) already drives each one through a Broadcaster against a
fake backend; this file pins the mapping of each record field, the fallbacks, the size cuts, the
Datadog age rule and site hosts, privacy mode in the previewed body, and settings errors.
"""

from __future__ import annotations

import json
import time
import uuid

import orjson
import pytest

from conftest import full_record, load_contract
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError
from spancast.codec import TraceEncoder
from spancast.connection import TEST_NAME, preview
from spancast.codec.ids import id_salt
from spancast.destinations import make_destination
from spancast.destinations.datadog import DEFAULT_MAX_AGE_S, RecordTooOld, site_host
from spancast.destinations.posthog import UUID_NAMESPACE, flatten_metadata
from spancast.destinations.raindrop import MARKER, MAX_EVENT_BYTES
from spancast.errors import EncodeError
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import Expect, OtlpSink

HOUR_NS = 3600 * 10**9
POSTHOG = {"type": "posthog", "apiKey": "phc_test_key"}
RAINDROP = {"type": "raindrop", "writeKey": "rd-secret-write-key"}
DATADOG = {"type": "datadog", "apiKey": "dd-secret-api-key", "mlApp": "shop-bot", "maxAgeS": None}


def body_of(destination, *records) -> object:
    encoder = destination.new_encoder()
    encoder.extend(records)
    return orjson.loads(encoder.finish())


def posthog_event(record, **settings):
    return body_of(make_destination({**POSTHOG, **settings}), record)["batch"][0]


def raindrop_event(record, **settings):
    (event,) = body_of(make_destination({**RAINDROP, **settings}), record)
    return event


def datadog_spans(record, **settings):
    return body_of(make_destination({**DATADOG, **settings}), record)["data"]["attributes"]["spans"]


# ------------------------------------------------------------------------------------------ PostHog


def test_posthog_maps_each_field():
    rec = full_record(3, trace={"trace_id": "t-1", "trace_name": "checkout", "generation_name": "answer"},
                      cache_write_tokens=16, reasoning_tokens=40)
    event = posthog_event(rec)
    p = event["properties"]
    assert event["event"] == "$ai_generation" and event["distinct_id"] == "user-42"
    assert event["timestamp"] == "2024-11-19T07:06:40.000Z"
    assert event["uuid"] == str(uuid.uuid5(UUID_NAMESPACE, f"{rec.id}#{id_salt('posthog'):016x}"))  # salted by name
    assert (p["$ai_trace_id"], p["$ai_span_id"], p["$ai_span_name"], p["trace_name"]) == ("t-1", rec.id, "answer", "checkout")
    assert "$ai_trace_name" not in p and "metadata_trace_name" not in p
    assert (p["$ai_session_id"], p["$ai_model"], p["$ai_provider"]) == ("sess-7", "openai/gpt-4o", "OpenAI")
    assert (p["$ai_input_tokens"], p["$ai_output_tokens"]) == (1200, 300)
    assert (p["$ai_cache_read_input_tokens"], p["$ai_cache_creation_input_tokens"], p["$ai_reasoning_tokens"]) == (1024, 16, 40)
    assert (p["$ai_input_cost_usd"], p["$ai_output_cost_usd"], p["$ai_total_cost_usd"]) == (0.003, 0.0045, 0.0075)
    assert p["$ai_latency"] == 1.25  # seconds, not milliseconds
    assert p["$ai_time_to_first_token"] == 0.4125
    assert (p["$ai_stream"], p["$ai_stop_reason"], p["$ai_temperature"], p["$ai_max_tokens"]) == (True, "stop", 0.7, 512)
    assert p["$ai_model_parameters"]["top_p"] == 1.0
    assert p["$ai_input"] == rec.messages
    assert p["$ai_output_choices"] == [{"role": "assistant", "content": "OTLP is the OpenTelemetry Protocol."}]
    assert "$process_person_profile" not in p and p["$ai_is_error"] is False  # sent always, as PostHog's SDK does


def test_posthog_uuid_is_stable_per_generation():
    a, b = full_record(1), full_record(2)
    assert posthog_event(a)["uuid"] == posthog_event(a)["uuid"] != posthog_event(b)["uuid"]


def test_posthog_distinct_id_falls_back_to_the_trace_id_then_the_generation_id():
    with_trace = full_record(1, user=None, session_id=None)
    event = posthog_event(with_trace)
    assert event["distinct_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" == event["properties"]["$ai_trace_id"]
    assert event["properties"]["$process_person_profile"] is False
    bare = full_record(2, user=None, session_id=None, trace=None)
    assert posthog_event(bare)["distinct_id"] == bare.id == posthog_event(bare)["properties"]["$ai_trace_id"]
    assert posthog_event(bare) == posthog_event(bare)  # stable: nothing random, nothing from the clock


def test_posthog_metadata_is_flattened_and_capped_at_three_levels():
    trace = {
        "trace_id": "t", "trace_name": "n", "generation_name": "g",  # mapped, not metadata
        "span_name": "step", "parent_span_id": "p",  # other keys: metadata
        "plain": 1,
        "one": {"two": {"three": "kept"}},
        "deep": {"two": {"three": {"four": 1}}},
        "list": [1, [2, [3]], {"k": {"x": 1}}],
        "empty": {},
    }
    assert flatten_metadata(trace) == {
        "metadata_span_name": "step",
        "metadata_parent_span_id": "p",
        "metadata_plain": 1,
        "metadata_one_two_three": "kept",
        "metadata_deep_two_three": "[truncated]",
        "metadata_list": [1, [2, "[truncated]"], {"k": "[truncated]"}],
        "metadata_empty": {},
    }
    props = posthog_event(full_record(1, trace=trace))["properties"]
    assert props["metadata_deep_two_three"] == "[truncated]" and "metadata_trace_id" not in props


def test_posthog_errors_prompts_and_tool_calls():
    rec = full_record(1, status="error", error_type="upstream_error", error_message="All providers failed",
                      messages=None, prompt="Say hi", completion=None,
                      tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}])
    p = posthog_event(rec)["properties"]
    assert p["$ai_is_error"] is True and p["$ai_error"] == "All providers failed"
    assert p["$ai_input"] == [{"role": "user", "content": "Say hi"}]
    assert p["$ai_output_choices"] == [{"role": "assistant", "content": "", "tool_calls": rec.tool_calls}]


def test_posthog_batch_body_url_and_headers():
    d = make_destination({**POSTHOG, "endpoint": "https://eu.i.posthog.com/", "headers": {"X-Extra": "1"}})
    body = body_of(d, full_record(1), full_record(2))
    assert body["api_key"] == "phc_test_key" and [e["properties"]["$ai_span_id"] for e in body["batch"]] == [
        full_record(1).id, full_record(2).id]
    request = d.request(b"{}")
    assert request.url == "https://eu.i.posthog.com/batch/"
    assert request.headers == {"X-Extra": "1", "Content-Type": "application/json"}
    assert make_destination(POSTHOG).url == "https://us.i.posthog.com/batch/"
    assert make_destination({**POSTHOG, "baseUrl": "http://proxy:8000/ph"}).url == "http://proxy:8000/ph/batch/"
    assert make_destination({**POSTHOG, "endpoint": "http://h/batch"}).url == "http://h/batch/"
    assert d.max_batch_bytes < 20_000_000
    assert "phc_test_key" not in repr(d.settings)  # typed Secret: hidden wherever settings are shown


# ----------------------------------------------------------------------------------------- Raindrop


def test_raindrop_maps_each_field():
    rec = full_record(3, trace={"trace_id": "t-1", "trace_name": "checkout", "team": {"id": 7}, "model": "mine"})
    event = raindrop_event(rec)
    assert (event["event_id"], event["user_id"], event["event"]) == (rec.id, "user-42", "llm_generation")
    assert event["timestamp"] == "2024-11-19T07:06:40.000Z"
    assert event["ai_data"] == {"model": "openai/gpt-4o", "input": rec.messages[1]["content"],
                                "output": "OTLP is the OpenTelemetry Protocol.", "convo_id": "sess-7"}
    p = event["properties"]
    assert (p["trace_id"], p["trace_name"], p["team"]) == ("t-1", "checkout", {"id": 7})  # trace keys as they are
    assert p["model"] == "openai/gpt-4o"  # a system property wins over a trace key of the same name
    assert (p["provider"], p["finish_reason"], p["total_cost"]) == ("OpenAI", "stop", 0.0075)
    assert (p["prompt_tokens"], p["completion_tokens"], p["total_tokens"]) == (1200, 300, 1500)
    assert p["duration_ms"] == 1250.0 and p["status"] == "ok"
    assert "truncated_fields" not in p and "error_message" not in p


def test_raindrop_input_is_the_latest_user_message():
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "question"}]},
        {"role": "tool", "content": "tool output"},
    ]
    assert raindrop_event(full_record(1, messages=messages))["ai_data"]["input"] == "second\nquestion"
    assert raindrop_event(full_record(1, messages=None, prompt="plain prompt"))["ai_data"]["input"] == "plain prompt"
    no_user = raindrop_event(full_record(1, messages=[{"role": "system", "content": "s"}]))["ai_data"]
    assert "input" not in no_user and no_user["output"] == "OTLP is the OpenTelemetry Protocol."
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert json.loads(raindrop_event(full_record(1, completion=None, tool_calls=calls))["ai_data"]["output"]) == calls


def test_raindrop_user_and_event_name_fallbacks():
    assert raindrop_event(full_record(1, user=None))["user_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    bare = full_record(2, user=None, trace={"generation_name": "summarize"})
    event = raindrop_event(bare)
    assert event["user_id"] == bare.id and event["event"] == "summarize"


def test_raindrop_cuts_an_event_over_1mb_with_a_marker():
    render = make_destination(RAINDROP).new_encoder().render
    one = full_record(1, completion="x" * 1_500_000, messages=[{"role": "user", "content": "é" * 100_000}])
    data = render(one)
    assert MAX_EVENT_BYTES - 16 <= len(data) <= MAX_EVENT_BYTES  # cut by what was over, not more
    event = orjson.loads(data)
    assert event["ai_data"]["output"].startswith("xxx") and event["ai_data"]["output"].endswith(MARKER)
    assert event["ai_data"]["input"] == "é" * 100_000 and event["properties"]["truncated_fields"] == ["ai_data.output"]
    # The longest field goes first, then the next while the event is still over (multi-byte text too).
    two = full_record(2, completion="x" * 1_200_000, messages=[{"role": "user", "content": "é" * 1_000_000}])
    data = render(two)
    event = orjson.loads(data)
    assert len(data) <= MAX_EVENT_BYTES and event["properties"]["truncated_fields"] == ["ai_data.input", "ai_data.output"]
    assert event["ai_data"]["input"] == MARKER and event["ai_data"]["output"].endswith("x" + MARKER)
    # A large custom trace value is cut too (as its JSON text).
    blob = full_record(3, trace={"blob": {"k": "y" * 2 * MAX_EVENT_BYTES}})
    data = render(blob)
    event = orjson.loads(data)
    assert len(data) <= MAX_EVENT_BYTES and event["properties"]["truncated_fields"] == ["properties.blob"]
    assert event["properties"]["blob"].startswith('{"k":"yyy') and event["properties"]["blob"].endswith(MARKER)
    # Under the limit nothing changes.
    assert "truncated_fields" not in orjson.loads(render(full_record(4)))["properties"]


def test_raindrop_url_and_auth():
    d = make_destination(RAINDROP)
    request = d.request(b"[]")
    assert request.url == "https://api.raindrop.ai/v1/events/track"
    assert request.headers["Authorization"] == "Bearer rd-secret-write-key"
    assert "rd-secret-write-key" not in repr(request) + repr(d.settings) + repr(request.headers["Authorization"])
    for base in ("https://api.raindrop.ai/v1", "https://api.raindrop.ai/v1/events/track/", "https://api.raindrop.ai/"):
        assert make_destination({**RAINDROP, "baseUrl": base}).url == "https://api.raindrop.ai/v1/events/track"
    assert body_of(d) == []


# ------------------------------------------------------------------------------------------ Datadog


def otlp_span_ids(record, salt: int = 0) -> tuple[str, str]:
    """(trace id, generation span id) an OTLP destination with this id salt sends for the record."""
    encoder = TraceEncoder(format="json", flavor="gen_ai", id_salt=salt)
    encoder.append(record)
    doc = orjson.loads(encoder.finish())
    (span,) = [s for s in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
               if any(a["key"] == "gen_ai.response.id" for a in s["attributes"])]
    return span["traceId"], span["spanId"]


def test_datadog_maps_each_field():
    rec = full_record(3, trace={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "trace_name": "checkout",
                                "generation_name": "answer", "tier": "gold", "nested": {"a": [1]}},
                      cache_write_tokens=16, reasoning_tokens=40)
    root, span = datadog_spans(rec)
    trace_hex, span_hex = otlp_span_ids(rec, id_salt("datadog"))
    assert span["trace_id"] == trace_hex and span["span_id"] == str(int(span_hex, 16))  # derived alike, in Datadog's form
    # the trace's root: a workflow named trace_name, as dd-trace's LLMObs.workflow() (the name Datadog's trace list shows)
    assert (root["name"], root["parent_id"], root["status"], root["meta"]) == ("checkout", "undefined", "ok",
                                                                              {"kind": "workflow"})
    assert root["trace_id"] == trace_hex and (root["start_ns"], root["duration"]) == (rec.start_time_ns, 1_250_000_000)
    assert (span["name"], span["parent_id"], span["status"]) == ("answer", root["span_id"], "ok")
    assert (span["start_ns"], span["duration"]) == (rec.start_time_ns, 1_250_000_000)
    assert (span["session_id"], span["tags"]) == ("sess-7", ["user_id:user-42"])
    meta = span["meta"]
    assert (meta["kind"], meta["model_name"], meta["model_provider"]) == ("llm", "openai/gpt-4o", "OpenAI")
    assert meta["input"] == {"messages": rec.messages}
    assert meta["output"] == {"messages": [{"role": "assistant", "content": "OTLP is the OpenTelemetry Protocol."}]}
    md = meta["metadata"]
    assert (md["generation_id"], md["trace_name"], md["tier"], md["nested"]) == (rec.id, "checkout", "gold", '{"a":[1]}')
    assert (md["temperature"], md["max_tokens"]) == (0.7, 512)
    assert "original_trace_id" not in md and "error" not in meta
    # costs are metrics (USD), which Datadog shows over its estimate; metadata would only be text
    assert not {"input_cost", "output_cost", "total_cost"} & set(md)
    assert span["metrics"] == {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500,
                               "cache_read_input_tokens": 1024, "cache_write_input_tokens": 16,
                               "reasoning_output_tokens": 40, "input_cost": 0.003, "output_cost": 0.0045,
                               "total_cost": 0.0075, "time_to_first_token": 0.4125}


def test_datadog_payload_ids_parents_and_errors():
    d = make_destination(DATADOG)
    body = body_of(d, full_record(1), full_record(2))
    attrs = body["data"]["attributes"]
    assert body["data"]["type"] == "span" and attrs["ml_app"] == "shop-bot" and attrs["tags"] == ["service:shop-bot"]
    # both records share full_record's trace: its root once, both llm spans under it
    root, one, two = attrs["spans"]
    assert (root["name"], root["parent_id"], root["meta"]["kind"]) == ("checkout-flow", "undefined", "workflow")
    assert one["parent_id"] == two["parent_id"] == root["span_id"]
    rec = full_record(1, trace={"trace_id": "workflow_12345", "parent_span_id": "00f067aa0ba902b7",
                                "span_name": "agent-step", "trace_name": "checkout"},
                      status="error", error_type="upstream_error", error_message="All providers failed")
    # under the caller's span: no root of ours (the caller's trace has one), the span_name span is a task
    task, llm = datadog_spans(rec)
    assert (task["name"], task["meta"], task["parent_id"]) == ("agent-step", {"kind": "task"}, str(0x00F067AA0BA902B7))
    assert task["metrics"] == {}  # the tokens and costs are the llm span's alone (Datadog sums a trace's)
    assert llm["parent_id"] == task["span_id"] and llm["trace_id"] == task["trace_id"]
    assert len(llm["trace_id"]) == 32 and llm["meta"]["metadata"]["original_trace_id"] == "workflow_12345"
    assert llm["status"] == "error" and llm["meta"]["error"] == {"message": "All providers failed", "type": "upstream_error"}
    hashed = datadog_spans(full_record(1, trace={"parent_span_id": "not-hex"}))[0]
    assert hashed["parent_id"].isdigit() and hashed["meta"]["metadata"]["original_parent_span_id"] == "not-hex"
    assert datadog_spans(full_record(1, trace=None))[0]["name"] == "openai/gpt-4o"  # OpenRouter's default: the model


def test_datadog_draws_the_trace_as_ddtraces_workflow_task_and_llm_spans():
    shared = {"trace_id": "research-42", "trace_name": "research-agent"}
    plan = full_record(1, trace={**shared, "generation_name": "plan"})
    answer = full_record(2, trace={**shared, "span_name": "answer-step", "generation_name": "answer"},
                         start_time_ns=plan.start_time_ns + 5 * 10**9, end_time_ns=plan.end_time_ns + 5 * 10**9)
    retry = full_record(3, trace={**shared, "generation_name": "retry"}, status="error", error_type="upstream_error",
                        error_message="All providers failed", start_time_ns=plan.start_time_ns - 10**9)
    d = make_destination(DATADOG)
    encoder = d.new_encoder()
    for rec in (plan, answer, retry):
        encoder.append(rec)
    size = encoder.size
    data = encoder.finish()
    assert len(data) == size  # the size stays exact when a root is widened in place
    root, plan_llm, task, answer_llm, retry_llm = orjson.loads(data)["data"]["attributes"]["spans"]
    # one root per trace per request, named trace_name; widened to its calls and failed as one of them failed
    assert (root["name"], root["parent_id"], root["meta"]["kind"]) == ("research-agent", "undefined", "workflow")
    assert root["start_ns"] == retry.start_time_ns and root["start_ns"] + root["duration"] == answer.end_time_ns
    assert root["status"] == "error" and (plan_llm["status"], retry_llm["status"]) == ("ok", "error")
    assert (task["name"], task["meta"]["kind"], task["parent_id"]) == ("answer-step", "task", root["span_id"])
    assert plan_llm["parent_id"] == retry_llm["parent_id"] == root["span_id"] and answer_llm["parent_id"] == task["span_id"]
    assert len({s["trace_id"] for s in (root, plan_llm, task, answer_llm, retry_llm)}) == 1
    assert plan_llm["meta"]["metadata"]["original_trace_id"] == "research-42"
    # a new request writes the root again (the same span id: Datadog keeps one span of an id)
    again = d.new_encoder()
    again.append(answer)
    assert orjson.loads(again.finish())["data"]["attributes"]["spans"][0]["span_id"] == root["span_id"]
    # without trace_id and trace_name there is no trace to name: the llm span is the root, a span_name span a
    # workflow above it; and a generation that bears the trace's name is its root
    (alone,) = datadog_spans(full_record(1, trace=None))
    assert alone["parent_id"] == "undefined"
    top, _llm = datadog_spans(full_record(1, trace={"span_name": "step"}))
    assert (top["meta"]["kind"], top["parent_id"]) == ("workflow", "undefined")
    (same,) = datadog_spans(full_record(1, trace={"trace_name": "openai/gpt-4o"}))
    assert (same["name"], same["parent_id"]) == ("openai/gpt-4o", "undefined")


def test_datadog_span_over_1mb_keeps_metadata_but_drops_messages():
    _root, span = datadog_spans(full_record(1, completion="z" * 2_000_000))
    assert len(orjson.dumps(span)) < 1_000_000
    for side in ("input", "output"):
        assert "dropped" in span["meta"][side]["messages"][0]["content"]
    assert span["meta"]["metadata"]["dropped_io"] is True and span["metrics"]["input_tokens"] == 1200


def test_datadog_refuses_records_older_than_24_hours():
    d = make_destination({**DATADOG, "maxAgeS": 86400})
    now = 1_800_000_000 * 10**9
    d.clock_ns = lambda: now
    fresh = full_record(1, start_time_ns=now - 86400 * 10**9, end_time_ns=now)
    stale = full_record(2, start_time_ns=now - 86400 * 10**9 - 1, end_time_ns=now)
    assert d.render(fresh)  # exactly 24 h old: still taken
    with pytest.raises(RecordTooOld) as info:
        d.render(stale)
    assert isinstance(info.value, EncodeError) and info.value.field == "start_time_ns" and info.value.age_s > 86400
    encoder = d.new_encoder()
    errors: list = []
    assert encoder.append_many([stale, fresh], 0, 10, 10**7, errors) == (2, None)
    assert encoder.records == 1 and [type(e) for _, e in errors] == [RecordTooOld]
    # The default keeps a margin for time spent queued and retried; null turns the check off.
    default = make_destination({k: v for k, v in DATADOG.items() if k != "maxAgeS"})
    assert default.settings.max_age_s == DEFAULT_MAX_AGE_S < 86400
    default.clock_ns = lambda: now
    with pytest.raises(RecordTooOld):
        default.render(full_record(3, start_time_ns=now - 86200 * 10**9, end_time_ns=now))
    unchecked = make_destination(DATADOG)
    unchecked.clock_ns = lambda: now
    assert unchecked.render(stale)


def test_datadog_drops_a_too_old_record_and_delivers_the_rest():
    contract = _contract("datadog")
    expect = Expect(path=contract.PATH, method=contract.METHOD, content_types=frozenset({contract.CONTENT_TYPE}),
                    auth=contract.check_auth, decode=contract.decode)
    now = time.time_ns()
    fresh = [full_record(i, start_time_ns=now - HOUR_NS, end_time_ns=now - HOUR_NS + 10**9) for i in range(3)]
    stale = full_record(9, start_time_ns=now - 30 * HOUR_NS, end_time_ns=now - 30 * HOUR_NS + 10**9)
    with SinkThread(OtlpSink(expect)) as sink:
        b = Broadcaster([contract.config(sink.base_url, maxAgeS=86400)], retry=RetryPolicy(max_attempts=1)).start()
        for r in [fresh[0], stale, *fresh[1:]]:
            b.emit(r)
        assert b.flush(10)
        (d,) = b.stats()["destinations"].values()
        b.close()
    assert sorted(sink.generation_ids()) == sorted(r.id for r in fresh) and sink.problems == []
    assert d["delivered"] == 3 and d["dropped"] == {"too_old": 1} and stale.id in d["last_error"]


@pytest.mark.parametrize("site, host", [
    ("datadoghq.com", "api.datadoghq.com"),
    ("us3.datadoghq.com", "api.us3.datadoghq.com"),
    ("us5.datadoghq.com", "api.us5.datadoghq.com"),
    ("datadoghq.eu", "api.datadoghq.eu"),
    ("ap1.datadoghq.com", "api.ap1.datadoghq.com"),
    ("ap2.datadoghq.com", "api.ap2.datadoghq.com"),
    ("uk1.datadoghq.com", "api.uk1.datadoghq.com"),
    ("us1", "api.datadoghq.com"),
    ("US5", "api.us5.datadoghq.com"),
    ("eu", "api.datadoghq.eu"),
    ("app.datadoghq.eu", "api.datadoghq.eu"),
    ("https://us3.datadoghq.com/", "api.us3.datadoghq.com"),
])
def test_datadog_site_hosts(site, host):
    assert site_host(site) == host
    assert make_destination({**DATADOG, "site": site}).url == f"https://{host}/api/intake/llm-obs/v1/trace/spans"


def test_datadog_default_site_and_base_url_overrides():
    assert make_destination(DATADOG).url == "https://api.us5.datadoghq.com/api/intake/llm-obs/v1/trace/spans"
    assert make_destination({**DATADOG, "baseUrl": "http://proxy:8126/"}).url == (
        "http://proxy:8126/api/intake/llm-obs/v1/trace/spans")
    assert make_destination({**DATADOG, "url": "https://api.us5.datadoghq.com"}).url == (  # OpenRouter's key
        "https://api.us5.datadoghq.com/api/intake/llm-obs/v1/trace/spans")
    d = make_destination(DATADOG)
    request = d.request(b"{}")
    assert request.headers == {"DD-API-KEY": "dd-secret-api-key", "Content-Type": "application/json"}
    assert "dd-secret-api-key" not in repr(request) + repr(d.settings) + repr(request.headers["DD-API-KEY"])
    assert d.max_batch_bytes == 5 * 1024 * 1024


# ----------------------------------------------------------------------- privacy, tests, settings

NEEDLES = ("PROMPT-7f3a", "COMPLETION-91bc", "REASONING-55de", "MESSAGE-c0ff", "TOOLARG-e1e1")


def private_record():
    return full_record(1, prompt=NEEDLES[0], completion=NEEDLES[1], reasoning=NEEDLES[2],
                       messages=[{"role": "user", "content": NEEDLES[3]}],
                       tool_calls=[{"id": "c", "type": "function", "function": {"name": "f", "arguments": NEEDLES[4]}}])


@pytest.mark.parametrize("config", [POSTHOG, RAINDROP, DATADOG], ids=["posthog", "raindrop", "datadog"])
def test_privacy_mode_sends_no_content(config):
    open_view = preview(make_destination(config), private_record())
    shown = preview(make_destination({**config, "privacyMode": True}), private_record())
    assert all(n in json.dumps(open_view) for n in NEEDLES[1:2])  # the unredacted body carries content
    text = json.dumps(shown)
    assert shown["sent"] and not any(n in text for n in NEEDLES)
    body = shown["body"]
    if config is POSTHOG:
        props = body["batch"][0]["properties"]
        assert "$ai_input" not in props and "$ai_output_choices" not in props
        assert props["$ai_input_tokens"] == 1200 and props["metadata_customer_tier"] == "gold"
    elif config is RAINDROP:
        assert "ai_data" not in body[0] and body[0]["properties"]["convo_id"] == "sess-7"
        assert body[0]["properties"]["total_cost"] == 0.0075 and body[0]["properties"]["customer_tier"] == "gold"
    else:
        root, llm = body["data"]["attributes"]["spans"]
        assert root["meta"] == {"kind": "workflow"}  # the trace's root carries no content to begin with
        meta = llm["meta"]
        assert "input" not in meta and "output" not in meta and meta["metadata"]["customer_tier"] == "gold"


@pytest.mark.parametrize("config", [POSTHOG, RAINDROP, {**DATADOG, "maxAgeS": 86400}],
                         ids=["posthog", "raindrop", "datadog"])
def test_connection_test_sends_one_named_test_event(config):
    d = make_destination(config)
    request, also_ok = d.test_request()
    assert also_ok == frozenset() and request.url == d.url
    assert TEST_NAME in request.body.decode()
    doc = orjson.loads(request.body)
    if d.type == "datadog":  # timed now, so inside Datadog's window
        (span,) = doc["data"]["attributes"]["spans"]
        assert span["name"] == TEST_NAME and span["trace_id"] == "0" * 31 + "1"


@pytest.mark.parametrize("mapping, path, reason", [
    ({"type": "posthog"}, "destination.apiKey", "missing"),
    ({**POSTHOG, "apiKey": "phx_personal"}, "destination.apiKey", "personal API key"),
    ({**POSTHOG, "apiKey": "phc_with space"}, "destination.apiKey", "no spaces"),
    ({**POSTHOG, "endpoint": "us.i.posthog.com"}, "destination.endpoint", "http(s) URL"),
    ({**POSTHOG, "endpoint": "https://a", "baseUrl": "https://b"}, "destination.baseUrl", "not both"),
    ({"type": "raindrop"}, "destination.writeKey", "missing"),
    ({**RAINDROP, "writeKey": ""}, "destination.writeKey", "empty"),
    ({**RAINDROP, "baseUrl": "ftp://x"}, "destination.baseUrl", "http(s) URL"),
    ({"type": "datadog", "apiKey": "k"}, "destination.mlApp", "missing"),
    ({"type": "datadog", "mlApp": "a"}, "destination.apiKey", "missing"),
    ({**DATADOG, "mlApp": "Shop Bot"}, "destination.mlApp", "lowercase"),
    ({**DATADOG, "mlApp": "shop__bot"}, "destination.mlApp", "underscore"),
    ({**DATADOG, "site": "datadoghq.org"}, "destination.site", "unknown Datadog site"),
    ({**DATADOG, "site": "ddog-gov.com"}, "destination.site", "not available"),
    ({**DATADOG, "site": "eu", "baseUrl": "https://x"}, "destination.baseUrl", "only one"),
    ({**DATADOG, "maxAgeS": 0}, "destination.maxAgeS", "> 0"),
    ({**DATADOG, "maxAgeS": "1d"}, "destination.maxAgeS", "expected"),
])
def test_bad_settings_name_the_key(mapping, path, reason):
    with pytest.raises(ConfigError) as info:
        make_destination(mapping)
    assert info.value.path == path and reason in info.value.reason, info.value
    for secret in ("phx_personal", "phc_with space", "dd-secret-api-key", "rd-secret-write-key"):
        assert secret not in str(info.value)


def test_snake_case_settings_are_accepted_too():
    d = make_destination({"type": "datadog", "api_key": "k", "ml_app": "a", "base_url": "http://h", "max_age_s": None})
    assert d.url == "http://h/api/intake/llm-obs/v1/trace/spans" and d.settings.max_age_s is None
    assert make_destination({"type": "raindrop", "write_key": "w", "base_url": "http://h"}).url == (
        "http://h/v1/events/track")


def test_a_record_no_wire_format_takes_is_an_encode_error():
    rec = full_record(1, trace={"trace_id": ["not", "text"], "generation_name": {"not": "text"}})
    for config in (POSTHOG, RAINDROP, DATADOG):
        with pytest.raises(EncodeError):
            make_destination(config).new_encoder().append(rec)


def _contract(kind: str):
    return load_contract(kind)


def test_posthog_cuts_an_event_over_1_mb_and_leaves_the_record_alone():
    from spancast.destinations import posthog

    rec = full_record(1, messages=[{"role": "user", "content": "é" * 900_000}, {"role": "user", "content": "short"}],
                      completion="x" * 400_000)
    before = [dict(m) for m in rec.messages]
    data = posthog.render(rec)
    event = json.loads(data)
    props = event["properties"]
    assert len(data) <= posthog.MAX_EVENT_BYTES and props["$ai_truncated"] is True
    assert props["$ai_input"][0]["content"].endswith(posthog.MARKER) and props["$ai_input"][1]["content"] == "short"
    assert rec.messages == before  # the record (shared with other destinations) was not cut
    small = posthog.render(full_record(2))
    assert "$ai_truncated" not in json.loads(small)["properties"]


def test_datadog_keeps_a_span_under_1_mb_when_the_error_and_metadata_are_huge():
    from spancast.destinations import datadog
    from spancast.destinations import make_destination

    rec = full_record(1, status="error", error_type="boom", error_message="e" * 3_000_000,
                      trace={"blob": "m" * 3_000_000})
    d = make_destination({"type": "datadog", "apiKey": "k", "mlApp": "a", "maxAgeS": None})
    encoder = d.new_encoder()
    encoder.append(rec)
    body = json.loads(encoder.finish())
    (span,) = body["data"]["attributes"]["spans"]
    assert len(json.dumps(span)) <= datadog.MAX_SPAN_BYTES
    assert span["meta"]["metadata"]["dropped_io"] is True and span["metrics"]
