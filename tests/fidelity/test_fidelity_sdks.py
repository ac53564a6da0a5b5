"""Fidelity against the vendors' own SDKs: what each official Python SDK sends for one generation, captured by a
local sink, compared with spancast's request for the same generation (endpoint, headers, keys, types, units).

The SDKs run in .venv-sdks (tests/locks/sdks.txt), apart from spancast's dependencies; the scripts that drive
them are tests/fidelity/sdk/<vendor>_emit.py. Versions are pinned by the lock.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from fidelity.capture import Capture
from fidelity.servers import venv_bin
from otlp import any_value, attrs, spans
from spancast import Broadcaster, Generation

HERE = Path(__file__).resolve().parent
GENERATION = dict(
    id="gen-sdk-differential-1", start_time_ns=1_765_000_000_000_000_000, end_time_ns=1_765_000_001_500_000_000,
    model="openai/gpt-4o-mini", provider="openai", finish_reason="stop", prompt_tokens=20, completion_tokens=2,
    cached_tokens=5, input_cost=3e-05, output_cost=1.2e-06, total_cost=3.12e-05, time_to_first_token_ms=350.0,
    model_parameters={"temperature": 0.2}, user="user-1", session_id="sess-1",
    messages=[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    completion="4", trace={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "trace_name": "spancast-trace",
                           "generation_name": "LLM Generation"},
)


def sdk_requests(vendor: str, answers: dict | None = None, generation: dict = GENERATION,
                 env: dict | None = None) -> list[dict]:
    """What the vendor's SDK sent for the generation (answers: Capture's canned answers; env: the SDK's
    settings)."""
    trace = generation["trace"]
    g = {**generation, "name": trace["generation_name"], "trace_name": trace["trace_name"], "trace_id": trace["trace_id"],
         "span_name": trace.get("span_name"), "latency_s": 1.5, "ttft_s": 0.35}
    with Capture(answers) as sink:
        done = subprocess.run([str(venv_bin("sdks", "python")), str(HERE / "sdk" / f"{vendor}_emit.py"), sink.url],
                              input=json.dumps(g).encode(), capture_output=True, timeout=120,
                              env={**os.environ, **(env or {})})
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    return [r for r in sink.requests if r["method"] != "GET"]


def spancast_requests(config: dict, generation: dict = GENERATION) -> list[dict]:
    with Capture() as sink:
        with Broadcaster([{**config(sink.url), "name": "d"}]) as b:
            assert b.emit(Generation(**generation))
            assert b.flush(10)
    return sink.requests


def test_posthog_sends_what_posthogs_sdk_sends():
    (theirs,) = sdk_requests("posthog")
    (ours,) = spancast_requests(lambda url: {"type": "posthog", "apiKey": "phc_sdk_differential", "endpoint": url})
    assert ours["path"] == theirs["path"] == "/batch/"
    assert set(theirs["body"]) - {"historical_migration", "sent_at"} <= set(ours["body"])  # api_key, batch
    (sdk_event,), (event,) = theirs["body"]["batch"], ours["body"]["batch"]
    assert event["event"] == sdk_event["event"] == "$ai_generation" and event["distinct_id"] == sdk_event["distinct_id"]
    props, sdk_props = event["properties"], sdk_event["properties"]
    for key in ("$ai_trace_id", "$ai_session_id", "$ai_span_name", "$ai_model", "$ai_input_tokens", "$ai_output_tokens",
                "$ai_cache_read_input_tokens", "$ai_input_cost_usd", "$ai_output_cost_usd", "$ai_total_cost_usd",
                "$ai_latency", "$ai_time_to_first_token", "$ai_is_error", "$ai_input", "$ai_output_choices"):
        assert key in props, key
        assert type(props[key]) is type(sdk_props[key]), (key, props[key], sdk_props[key])  # types, hence units too
    assert props["$ai_latency"] == sdk_props["$ai_latency"] == 1.5  # seconds, as the SDK's
    assert props["$ai_time_to_first_token"] == sdk_props["$ai_time_to_first_token"] == 0.35
    assert props["$ai_input"] == sdk_props["$ai_input"]


def test_raindrop_sends_what_raindrops_sdk_sends():
    (theirs,) = sdk_requests("raindrop")
    (ours,) = spancast_requests(lambda url: {"type": "raindrop", "writeKey": "rk_sdk_differential", "baseUrl": url})
    assert ours["path"] == theirs["path"] == "/v1/events/track"
    assert ours["headers"]["authorization"] == theirs["headers"]["authorization"] == "Bearer rk_sdk_differential"
    (sdk_event,), (event,) = theirs["body"], ours["body"]  # a JSON array of events, both
    assert set(sdk_event) - {"attachments"} <= set(event), set(sdk_event) - set(event)
    assert set(sdk_event["ai_data"]) <= set(event["ai_data"])
    for key in ("model", "input", "output", "convo_id"):
        assert event["ai_data"][key] == sdk_event["ai_data"][key], key
    assert event["user_id"] == sdk_event["user_id"] and event["event"] == sdk_event["event"]


def _langfuse_attrs(requests: list[dict]) -> dict[str, dict]:
    out = {}
    for request in requests:
        for span in spans(request["body"]):
            out[span.name] = {kv.key: any_value(kv.value) for kv in span.attributes}
    return out


def test_langfuse_gets_the_keys_langfuses_sdk_sends():
    theirs = sdk_requests("langfuse")
    ours = spancast_requests(lambda url: {"type": "langfuse", "publicKey": "pk-lf-sdk", "secretKey": "sk-lf-sdk", "baseUrl": url})
    assert {r["path"] for r in theirs} == {r["path"] for r in ours} == {"/api/public/otel/v1/traces"}
    for request in (theirs[0], ours[0]):
        assert request["headers"]["x-langfuse-ingestion-version"] == "4"
        assert request["headers"]["authorization"] == theirs[0]["headers"]["authorization"]
    sdk, mine = _langfuse_attrs(theirs), _langfuse_attrs(ours)
    sdk_gen, gen = sdk["LLM Generation"], mine["LLM Generation"]
    for key in ("langfuse.observation.type", "langfuse.observation.model.name", "langfuse.observation.input",
                "langfuse.observation.output", "langfuse.observation.model.parameters",
                "langfuse.observation.usage_details", "langfuse.observation.cost_details",
                "langfuse.observation.completion_start_time"):
        assert key in gen, key
        assert gen[key][0] == sdk_gen[key][0], (key, gen[key], sdk_gen[key])  # the same AnyValue type
    for key in ("langfuse.observation.usage_details", "langfuse.observation.cost_details"):
        assert json.loads(gen[key][1]) == json.loads(sdk_gen[key][1]), key  # the same buckets, numbers and units
    assert json.loads(gen["langfuse.observation.input"][1]) == json.loads(sdk_gen["langfuse.observation.input"][1])
    assert json.loads(gen["langfuse.observation.output"][1]) == json.loads(sdk_gen["langfuse.observation.output"][1])
    # trace fields on the trace's root, as the SDK's root carries them
    sdk_root, root = sdk["spancast-trace"], mine["spancast-trace"]
    for key in ("user.id", "session.id", "langfuse.trace.name"):
        assert root[key] == sdk_root[key], key


def _otlp_spans(requests: list[dict]) -> dict[str, tuple]:
    """name -> (span, its attributes) over every OTLP request."""
    return {span.name: (span, attrs(span)) for request in requests for span in spans(request["body"])}


def test_langsmith_gets_the_run_langsmiths_sdk_sends_over_otel():
    # The SDK's OTel mode (LANGSMITH_OTEL_ONLY) is the wire spancast's langsmith destination uses; its own
    # run -> span mapping (langsmith/_internal/otel/_otel_exporter.py) is the reference for the keys.
    theirs = sdk_requests("langsmith")
    ours = spancast_requests(lambda url: {"type": "langsmith", "apiKey": "lsv2_pt_sdk_differential",
                                          "project": "spancast-probe", "endpoint": url})
    assert {r["path"] for r in theirs} == {r["path"] for r in ours} == {"/otel/v1/traces"}
    for name in ("x-api-key", "langsmith-project", "content-type"):
        assert ours[0]["headers"][name] == theirs[0]["headers"][name], name  # the key, the project, protobuf
    sdk, mine = _otlp_spans(theirs), _otlp_spans(ours)
    # hierarchy and names: a chain run named trace_name above the llm run named generation_name
    (sdk_root, sdk_root_a), (root, root_a) = sdk["spancast-trace"], mine["spancast-trace"]
    (sdk_llm, sdk_a), (llm, a) = sdk["LLM Generation"], mine["LLM Generation"]
    assert llm.parent_span_id == root.span_id and sdk_llm.parent_span_id == sdk_root.span_id
    assert root_a["langsmith.span.kind"] == sdk_root_a["langsmith.span.kind"] == ("string", "chain")
    assert a["langsmith.span.kind"] == sdk_a["langsmith.span.kind"] == ("string", "llm")
    # times: Unix nanoseconds both, the same instants
    assert (llm.start_time_unix_nano, llm.end_time_unix_nano) == (sdk_llm.start_time_unix_nano, sdk_llm.end_time_unix_nano)
    for key in ("gen_ai.operation.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.usage.input_tokens",
                "gen_ai.usage.output_tokens", "gen_ai.usage.total_tokens", "gen_ai.response.finish_reasons",
                "langsmith.metadata.session_id", "langsmith.metadata.user_id"):
        assert a[key] == sdk_a[key], (key, a[key], sdk_a.get(key))  # same key, AnyValue type and value
    assert root_a["langsmith.metadata.session_id"] == sdk_root_a["langsmith.metadata.session_id"]  # threads
    assert json.loads(a["gen_ai.prompt"][1])["messages"] == json.loads(sdk_a["gen_ai.prompt"][1])["messages"]
    outputs, sdk_outputs = json.loads(a["gen_ai.completion"][1]), json.loads(sdk_a["gen_ai.completion"][1])
    assert outputs["choices"][0]["message"] == sdk_outputs["choices"][0]["message"]
    # usage_metadata in the outputs is where LangSmith reads a run's cost; the same numbers, USD
    assert outputs["usage_metadata"] == sdk_outputs["usage_metadata"]
    # the cache breakdown: the same counts; the SDK writes str(dict), spancast JSON, which any reader parses
    assert json.loads(a["gen_ai.usage.input_token_details"][1]) == ast.literal_eval(sdk_a["gen_ai.usage.input_token_details"][1])
    # Deliberate differences. The SDK names the project in every span (langsmith.trace.session_name) as well
    # as in the Langsmith-Project header; spancast only in the header, which routes the runs just the same.
    assert sdk_a["langsmith.trace.session_name"][1] == theirs[0]["headers"]["langsmith-project"]
    assert "langsmith.trace.session_name" not in a
    # The SDK repeats the run's name as langsmith.trace.name; spancast's run name is the span's name
    # (tests/test_presets_otlp.py::test_langsmith_flavour), which LangSmith uses without that key.
    assert sdk_a["langsmith.trace.name"][1] == llm.name


def _datadog_spans(theirs: list[dict]) -> list[dict]:
    """The spans dd-trace sent, in the order it finished them (one event per span, in one or more requests)."""
    return [span for request in theirs for event in request["body"] for span in event["spans"]]


def _tree(spans: list[dict]) -> list[tuple[str, str, str | None]]:
    """(name, kind, parent's name) per span, by name: the hierarchy Datadog's trace view draws."""
    names = {s["span_id"]: s["name"] for s in spans}
    kind = lambda s: s["meta"].get("kind") or s["meta"]["span"]["kind"]  # noqa: E731 (public API / dd-trace intake)
    return sorted((s["name"], kind(s), names.get(s["parent_id"])) for s in spans)


DATADOG = lambda url: {"type": "datadog", "apiKey": "dd_sdk_differential", "mlApp": "spancast-probe",  # noqa: E731
                       "baseUrl": url, "maxAgeS": None}
#: GENERATION inside an agent step: trace_name, span_name and generation_name, the three levels of OpenRouter's tree.
IN_A_STEP = {**GENERATION, "trace": {**GENERATION["trace"], "span_name": "answer-step"}}


def test_datadog_sends_the_span_ddtraces_llmobs_sends():
    theirs = sdk_requests("ddtrace", generation=IN_A_STEP)
    (ours,) = spancast_requests(DATADOG, IN_A_STEP)
    # Deliberate: spancast posts to the documented public spans API (api.<site>/api/intake/llm-obs/v1/trace/spans,
    # {"data": {"type": "span", "attributes": {ml_app, tags, spans}}}); dd-trace 4.16 posts its own intake's
    # format (llmobs-intake.<site>/api/v2/llmobs, a list of {"_dd.stage", "event_type", "spans"}), which
    # Datadog does not document for other clients. The auth header and the JSON are the same.
    assert ours["path"] == "/api/intake/llm-obs/v1/trace/spans" and {r["path"] for r in theirs} == {"/api/v2/llmobs"}
    for request in theirs:
        assert ours["headers"]["dd-api-key"] == request["headers"]["dd-api-key"] == "dd_sdk_differential"
        assert ours["headers"]["content-type"] == request["headers"]["content-type"] == "application/json"
    sdk_spans = _datadog_spans(theirs)
    attributes = ours["body"]["data"]["attributes"]
    spans = attributes["spans"]
    assert attributes["ml_app"] == "spancast-probe" and all("ml_app:spancast-probe" in s["tags"] for s in sdk_spans)
    # The hierarchy: LLMObs.workflow(trace_name) > task(span_name) > llm(generation_name), one trace id throughout;
    # the workflow is the root ("undefined" parent), the name Datadog's trace list shows.
    assert _tree(spans) == _tree(sdk_spans) == [("LLM Generation", "llm", "answer-step"),
                                                ("answer-step", "task", "spancast-trace"),
                                                ("spancast-trace", "workflow", None)]
    for ours_tree in (spans, sdk_spans):
        assert len({s["trace_id"] for s in ours_tree}) == 1
        (root,) = [s for s in ours_tree if s["parent_id"] == "undefined"]
        assert root["name"] == "spancast-trace"
        for s in ours_tree:  # a parent's time covers its children's
            parent = next((p for p in ours_tree if p["span_id"] == s["parent_id"]), None)
            if parent is not None:
                assert parent["start_ns"] <= s["start_ns"]
                assert s["start_ns"] + s["duration"] <= parent["start_ns"] + parent["duration"]
    by_name = {s["name"]: s for s in sdk_spans}
    for s in spans:
        sdk_s = by_name[s["name"]]
        assert (s["status"], s["session_id"]) == (sdk_s["status"], sdk_s["session_id"]), s["name"]
    span, sdk_span = spans[-1], by_name["LLM Generation"]
    assert "user_id:user-1" in span["tags"] and "user_id:user-1" in sdk_span["tags"]
    # ids: 128-bit trace id as 32 hex digits, span id in decimal; times in ns, both integers
    assert len(span["trace_id"]) == len(sdk_span["trace_id"]) == 32 and span["span_id"].isdigit() and sdk_span["span_id"].isdigit()
    assert type(span["start_ns"]) is type(sdk_span["start_ns"]) is int and type(span["duration"]) is type(sdk_span["duration"]) is int
    assert span["duration"] == 1_500_000_000  # ns, as the SDK's (its own span's duration was real time)
    meta, sdk_meta = span["meta"], sdk_span["meta"]
    for key in ("model_name", "model_provider", "input", "output"):
        assert meta[key] == sdk_meta[key], key
    assert meta["metadata"]["temperature"] == sdk_meta["metadata"]["temperature"]
    assert meta["metadata"]["finish_reason"] == sdk_meta["metadata"]["finish_reason"]
    # Deliberate: the public API's span kind is meta.kind; dd-trace's own intake reads meta.span.kind
    assert (meta["kind"], sdk_meta["span"]["kind"]) == ("llm", "llm")
    # tokens, time to first token (s) and costs (USD) are metrics, the same keys and values, on the llm span only
    assert span["metrics"] == sdk_span["metrics"]
    assert not any(s["metrics"] for s in spans[:-1]) and not any(s["metrics"] for s in sdk_spans if s is not sdk_span)


def test_datadog_fails_the_trace_root_as_ddtrace_does_when_a_call_fails():
    failed = {**GENERATION, "status": "error", "error_type": "upstream_error", "error_message": "All providers failed"}
    sdk_spans = _datadog_spans(sdk_requests("ddtrace", generation=failed))
    (ours,) = spancast_requests(DATADOG, failed)
    spans = ours["body"]["data"]["attributes"]["spans"]
    assert _tree(spans) == _tree(sdk_spans) == [("LLM Generation", "llm", "spancast-trace"),
                                                ("spancast-trace", "workflow", None)]
    # both fail: the llm span with its error (message, type), the workflow root as the trace Datadog lists
    assert [s["status"] for s in spans] == ["error", "error"] and {s["status"] for s in sdk_spans} == {"error"}
    span, sdk_span = spans[-1], next(s for s in sdk_spans if s["name"] == "LLM Generation")
    assert span["meta"]["error"]["message"] == sdk_span["meta"]["error"]["message"] == "All providers failed"
    # Deliberate: the type is the record's error_type; dd-trace's is the Python exception's qualified name
    assert (span["meta"]["error"]["type"], sdk_span["meta"]["error"]["type"]) == ("upstream_error", "__main__.ProviderError")


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)  # "...Z" and "...+00:00" alike (Python 3.11)


#: GENERATION with every count Opik's usage can show: cached (GENERATION's), cache write and reasoning tokens.
ALL_COUNTS = {**GENERATION, "cache_write_tokens": 3, "reasoning_tokens": 1}


def test_opik_sends_the_trace_and_span_opiks_sdk_sends():
    # spancast's opik default, route: rest, is the wire the SDK uses: traces/batch, then spans/batch
    theirs = sdk_requests("opik", generation=ALL_COUNTS)
    ours = spancast_requests(lambda url: {"type": "opik", "apiKey": "opik_sdk_differential", "workspace": "ws",
                                          "projectName": "spancast-probe", "baseUrl": url + "/api"}, ALL_COUNTS)
    paths = ["/api/v1/private/traces/batch", "/api/v1/private/spans/batch"]
    assert [r["path"] for r in ours] == paths
    # The SDK's background workers post the two batches in either order (seen: spans first, about one run in
    # four); Opik stores a span whose trace it has not seen yet, so only spancast's order is asserted.
    theirs = sorted(theirs, key=lambda r: paths.index(r["path"]))
    assert [r["path"] for r in theirs] == paths
    for name in ("authorization", "comet-workspace", "content-type"):
        assert ours[0]["headers"][name] == theirs[0]["headers"][name], name  # the key itself, no Bearer
    # Deliberate: the SDK gzips; spancast's opik default is no compression (src/spancast/destinations/opik_rest.py:
    # "compression: gzip is safe; the default stays none")
    assert theirs[0]["headers"]["content-encoding"] == "gzip" and "content-encoding" not in ours[0]["headers"]
    (sdk_trace,), (trace,) = theirs[0]["body"]["traces"], ours[0]["body"]["traces"]
    (sdk_span,), (span,) = theirs[1]["body"]["spans"], ours[1]["body"]["spans"]
    # every key the SDK sends, spancast sends too, but the SDK's bookkeeping (its write time, "source": "sdk")
    assert set(sdk_trace) - set(trace) == {"last_updated_at", "source"}
    assert set(sdk_span) - set(span) == {"last_updated_at", "source"}
    for key in ("project_name", "name", "input", "output", "thread_id"):
        assert trace[key] == sdk_trace[key], key
    assert trace["metadata"]["user_id"] == sdk_trace["metadata"]["user_id"]
    for key in ("project_name", "name", "type", "input", "output", "model", "provider", "total_estimated_cost"):
        assert span[key] == sdk_span[key], key
    # usage: the SDK given the OpenAI-shaped usage object (what its OpenAI integration passes on) sends the totals
    # and the object flattened under original_usage., cached, cache-write and reasoning counts included
    assert span["usage"] == sdk_span["usage"]
    assert span["usage"]["original_usage.prompt_tokens_details.cached_tokens"] == 5
    assert span["usage"]["original_usage.prompt_tokens_details.cache_write_tokens"] == 3
    assert span["usage"]["original_usage.completion_tokens_details.reasoning_tokens"] == 1
    # times: ISO 8601 UTC strings, the same instants
    for ours_doc, sdk_doc in ((trace, sdk_trace), (span, sdk_span)):
        for key in ("start_time", "end_time"):
            assert _instant(ours_doc[key]) == _instant(sdk_doc[key]), key
    # hierarchy and ids: version-7 UUIDs, the span naming its trace
    assert span["trace_id"] == trace["id"] and sdk_span["trace_id"] == sdk_trace["id"]
    assert {uuid.UUID(i).version for i in (trace["id"], span["id"], sdk_trace["id"], sdk_span["id"])} == {7}


def test_weave_sends_the_call_weaves_sdk_sends():
    # weave 0.54 (use_calls_complete, its default since 0.52.26) holds each call until it ends and sends it whole
    # to /v2/{entity}/{project}/calls/complete (weave/trace_server_bindings/remote_http_trace_server.py,
    # _flush_calls_complete; the call's keys from call_batch_processor.py, _create_complete). spancast's calls
    # route, the default, sends the same; callsComplete: false is the SDK's WEAVE_USE_CALLS_COMPLETE=false wire.
    (theirs,) = sdk_requests("weave")
    (ours,) = spancast_requests(lambda url: {"type": "weave", "apiKey": "a" * 40, "entity": "entity",
                                             "project": "spancast-probe", "baseUrl": url})
    assert ours["path"] == theirs["path"] == "/v2/entity/spancast-probe/calls/complete"
    assert ours["headers"]["authorization"] == theirs["headers"]["authorization"]  # Basic api:<key>
    assert ours["headers"]["content-type"] == theirs["headers"]["content-type"] == "application/json"
    assert set(ours["body"]) == set(theirs["body"]) == {"batch"}
    (sdk_call,), (call,) = theirs["body"]["batch"], ours["body"]["batch"]
    # every key spancast sends, the SDK sends, in the same order; the SDK writes null for what the call has
    # not (parent_id, turn_id, wb_*: the server sets wb_user_id itself), spancast leaves those keys out
    assert list(call) == [key for key in sdk_call if key in call]
    assert {key for key, value in sdk_call.items() if value is not None} <= set(call)
    for key, value in call.items():
        assert type(value) is type(sdk_call[key]) or sdk_call[key] is None, (key, value, sdk_call[key])
    for key in ("project_id", "op_name", "display_name", "trace_id", "thread_id"):
        assert call[key] == sdk_call[key], key
    for key in ("user_id", "session_id", "provider"):
        assert call["attributes"][key] == sdk_call["attributes"][key], key
    assert call["inputs"] == sdk_call["inputs"]  # model, model parameters, messages
    assert call["output"]["choices"] == sdk_call["output"]["choices"]
    # summary.usage keyed by model name, OpenAI's token names: what Weave's UI totals
    assert call["summary"]["usage"] == sdk_call["summary"]["usage"]
    # times: ISO 8601 UTC, the same instants ("Z" vs "+00:00")
    for key in ("started_at", "ended_at"):
        assert _instant(call[key]) == _instant(sdk_call[key]), key
    # a root call both: no parent (the SDK's explicit null, spancast's absent key)
    assert sdk_call["parent_id"] is None and call.get("parent_id") is None
    # Deliberate: the SDK's ids are its own UUIDv7s; spancast's a UUIDv5 of the generation id (redelivery
    # upserts the same call). Both are what Weave's validators take (a UUID).
    assert uuid.UUID(call["id"]).version == 5 and uuid.UUID(sdk_call["id"]).version == 7


def test_weave_upsert_wire_is_the_sdks_legacy_wire():
    # callsComplete: false sends what weave 0.54 sends with WEAVE_USE_CALLS_COMPLETE=false: a start and an
    # end item per call to /call/upsert_batch (remote_http_trace_server.py, _flush_calls)
    (theirs,) = sdk_requests("weave", env={"WEAVE_USE_CALLS_COMPLETE": "false"})
    (ours,) = spancast_requests(lambda url: {"type": "weave", "apiKey": "a" * 40, "entity": "entity",
                                             "project": "spancast-probe", "baseUrl": url, "callsComplete": False})
    assert ours["path"] == theirs["path"] == "/call/upsert_batch"
    assert ours["headers"]["authorization"] == theirs["headers"]["authorization"]
    assert [item["mode"] for item in ours["body"]["batch"]] == [item["mode"] for item in theirs["body"]["batch"]] == [
        "start", "end"]
    for item, sdk_item in zip(ours["body"]["batch"], theirs["body"]["batch"]):
        mode = item["mode"]
        assert set(item) == set(sdk_item) == {"mode", "req"} and set(item["req"]) == set(sdk_item["req"]) == {mode}
        part, sdk_part = item["req"][mode], sdk_item["req"][mode]
        assert {key for key, value in sdk_part.items() if value is not None} - {"trace_id"} <= set(part), mode
        assert set(part) <= set(sdk_part), mode
    # the SDK repeats trace_id on the end (its client capability trace_id_on_end); the server takes it from the start


def _parts_text(messages: str) -> list[tuple[str, str]]:
    """(role, text) of GenAI-convention messages ({"role", "parts": [{"type": "text", "content"}]})."""
    return [(m["role"], "".join(p.get("content", "") for p in m["parts"] if p["type"] == "text")) for m in json.loads(messages)]


BRAINTRUST_LOGIN = {"/api/apikey/login": lambda url: {"org_info": [{"id": "org", "name": "org", "api_url": url,
                                                                    "proxy_url": url}]}}


def test_braintrust_gets_the_transport_and_values_braintrusts_sdk_sends():
    theirs = sdk_requests("braintrust", BRAINTRUST_LOGIN)
    project_id = "00000000-0000-0000-0000-000000000001"
    ours = spancast_requests(lambda url: {"type": "braintrust", "apiKey": "sk-bt-sdk-differential",
                                          "projectId": project_id, "baseUrl": url})
    # Transport: the SDK's own OTel exporter (braintrust.otel.OtelExporter) and spancast's destination alike
    (sdk_otlp,) = [r for r in theirs if r["path"] == "/otel/v1/traces"]
    assert {r["path"] for r in ours} == {"/otel/v1/traces"}
    for name in ("authorization", "x-bt-parent", "content-type"):
        assert ours[0]["headers"][name] == sdk_otlp["headers"][name], name  # Bearer, project_id:<id>, protobuf
    # Values and units: the SDK logger's row (POST /logs3, Braintrust's own fields) against the GenAI keys
    # spancast sends for Braintrust's OTel ingestion to translate. Braintrust's converter is not public, so this
    # holds that every value of the row is there, in the same unit, not how Braintrust renders it.
    ((row,),) = [r["body"]["rows"] for r in theirs if r["path"] == "/logs3"]
    (span, a), = [v for k, v in _otlp_spans(ours).items() if k == row["span_attributes"]["name"]]
    assert row["span_attributes"]["type"] == "llm" and a["gen_ai.operation.name"] == ("string", "chat")
    assert a["gen_ai.request.model"][1] == row["metadata"]["model"]
    metrics = row["metrics"]
    assert a["gen_ai.usage.input_tokens"] == ("int", metrics["prompt_tokens"])
    assert a["gen_ai.usage.output_tokens"] == ("int", metrics["completion_tokens"])
    assert a["gen_ai.usage.total_tokens"] == ("int", metrics["tokens"])
    assert a["gen_ai.usage.cache_read.input_tokens"] == ("int", metrics["prompt_cached_tokens"])
    assert a["gen_ai.response.time_to_first_chunk"][1] == pytest.approx(metrics["time_to_first_token"])  # seconds, both
    # times: the row's are Unix seconds (float), OTLP's nanoseconds; the same instants
    assert span.start_time_unix_nano == round(metrics["start"] * 1e9) and span.end_time_unix_nano == round(metrics["end"] * 1e9)
    assert _parts_text(a["gen_ai.input.messages"][1]) == [(m["role"], m["content"]) for m in row["input"]]
    assert _parts_text(a["gen_ai.output.messages"][1]) == [(m["role"], m["content"]) for m in row["output"]]
    root_a = _otlp_spans(ours)["spancast-trace"][1]
    assert root_a["user.id"][1] == row["metadata"]["user_id"] and root_a["session.id"][1] == row["metadata"]["session_id"]


def _sentry_key(header: str) -> str:
    return dict(part.strip().split("=", 1) for part in header.split(" ", 1)[1].split(","))["sentry_key"]


def test_sentry_gets_the_span_sentrys_sdk_exports_over_otlp():
    # sentry-sdk's OTLPIntegration exports to the OTLP traces URL it derives from the DSN, the URL Sentry's
    # settings page shows and spancast's otlpEndpoint takes as is; the attribute names are the SDK's SPANDATA.
    (theirs,) = sdk_requests("sentry")
    (ours,) = spancast_requests(lambda url: {"type": "sentry", "otlpEndpoint": url + "/api/1/integration/otlp/v1/traces/",
                                             "dsn": "https://publickey@o1.ingest.sentry.io/1"})
    assert ours["path"] == theirs["path"] == "/api/1/integration/otlp/v1/traces/"
    assert ours["headers"]["content-type"] == theirs["headers"]["content-type"] == "application/x-protobuf"
    # the same header and public key; the SDK adds sentry_version and sentry_client, which the OTLP route
    # does not need (Sentry's "Direct OTLP Traces" page: x-sentry-auth: sentry sentry_key=<public key>)
    assert _sentry_key(ours["headers"]["x-sentry-auth"]) == _sentry_key(theirs["headers"]["x-sentry-auth"]) == "publickey"
    sdk, mine = _otlp_spans([theirs]), _otlp_spans([ours])
    (sdk_root, sdk_root_a), (root, root_a) = sdk["spancast-trace"], mine["spancast-trace"]
    (sdk_gen, sdk_a), (gen, a) = sdk["LLM Generation"], mine["LLM Generation"]
    assert gen.parent_span_id == root.span_id and sdk_gen.parent_span_id == sdk_root.span_id
    assert (gen.start_time_unix_nano, gen.end_time_unix_nano) == (sdk_gen.start_time_unix_nano, sdk_gen.end_time_unix_nano)
    assert gen.kind == sdk_gen.kind  # CLIENT
    for key, value in sdk_a.items():
        if key == "gen_ai.response.time_to_first_chunk":
            assert a[key][0] == value[0] and a[key][1] == pytest.approx(value[1]), key  # seconds, a double
        else:
            assert a[key] == value, (key, a.get(key), value)  # every SDK key, the same type and value
    assert root_a["user.id"] == sdk_root_a["user.id"]
