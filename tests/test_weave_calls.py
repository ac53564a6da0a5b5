"""Weave's call route (``weave`` with ``route: calls``): the contract checks against a local fake, ids, mapping.

The contract suite (tests/test_contract.py) runs ``weave`` once, on its default OTLP route; this file
runs the same checks for the calls route: deliver a batch over a real Broadcaster, 429 + Retry-After,
503, a 400 counted, a 413 split, the connection test, secrets, privacy mode, and a golden request body
(tests/golden/weave-calls.json; regenerate with SPANCAST_UPDATE_GOLDEN=1 and review the diff like code).
The fake checks what Weave checks: path, method, Basic ``api:<key>``, JSON, and a body whose ids,
names and times Weave's validators would take (weave/trace_server/validation.py): complete calls to
/v2/<entity>/<project>/calls/complete by default, start/end pairs to /call/upsert_batch with callsComplete: false.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import logging
import os
import time
import uuid
from pathlib import Path

import pytest

from conftest import full_record
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, Generation
from spancast.destinations import make_destination
from spancast.codec.ids import id_salt
from spancast.destinations.weave import WeaveDestination
from spancast.destinations.weave_calls import (MAX_BATCH_BYTES, UUID_NAMESPACE, WeaveCallsDestination, call_id,
                                             render_calls)
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import Expect, OtlpSink, Reply

GOLDEN = Path(__file__).resolve().parent / "golden" / "weave-calls.json"
FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)
N = 12
KEY = "wandb-calls-5c1d9e7a2b84f360"
SECRETS = (KEY, base64.b64encode(f"api:{KEY}".encode()).decode())
ENTITY, PROJECT = "calls-team", "calls-project"
PATH = f"/v2/{ENTITY}/{PROJECT}/calls/complete"
UPSERT_PATH = "/call/upsert_batch"
START_FIELDS = {"project_id", "id", "op_name", "display_name", "trace_id", "parent_id", "thread_id", "turn_id",
                "started_at", "attributes", "inputs", "otel_dump", "wb_user_id", "wb_run_id", "wb_run_step"}
END_FIELDS = {"project_id", "id", "ended_at", "exception", "output", "summary", "wb_run_step_end"}
# v2_call_complete_params.Batch (weave 0.54's generated client): the start's and the end's fields in one call
COMPLETE_FIELDS = {"project_id", "id", "trace_id", "op_name", "started_at", "ended_at", "display_name", "parent_id",
                   "thread_id", "turn_id", "attributes", "inputs", "output", "summary", "otel_dump", "exception",
                   "wb_user_id", "wb_run_id", "wb_run_step", "wb_run_step_end"}
REF_SCHEMES = ("weave:///", "weave-trace-internal:///")  # Weave validates such an op name as a ref


def config(base_url: str, **extra) -> dict:
    return {"type": "weave", "route": "calls", "apiKey": KEY, "entity": ENTITY, "project": PROJECT,
            "baseUrl": base_url, **extra}


# ---------------------------------------------------------------- the fake: what Weave checks


def check_auth(headers) -> str | None:
    given = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if given != "Basic " + SECRETS[1]:
        return "Authorization must be Basic api:<key>"
    return None


def _uuid_ok(s: str) -> bool:  # validation_util.require_uuid: lowercase, parses, round-trips
    try:
        return s == s.lower() and str(uuid.UUID(s)) == s
    except ValueError:
        return False


def _call_id_ok(s: str) -> bool:  # an OTel span id (16, lowercase) or a UUID
    return (len(s) == 16 and s == s.lower()) or _uuid_ok(s)


def _trace_id_ok(s: str) -> bool:  # an OTel trace id (32, lowercase) or a UUID
    return (len(s) == 32 and s == s.lower()) or _uuid_ok(s)


def _time(value, field: str) -> datetime.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field} missing")
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.utcoffset() != datetime.timedelta(0):
        raise ValueError(f"{field} is not UTC")
    return parsed


def check_call(start: dict, end: dict) -> str:
    """The generation id of one call (its start and end fields); ValueError where Weave would answer 400/422."""
    for part in (start, end):
        if part.get("project_id") != f"{ENTITY}/{PROJECT}":
            raise ValueError("project_id must be <entity>/<project>")
        if not _call_id_ok(part.get("id") or ""):
            raise ValueError(f"bad call id {part.get('id')!r}")
    if start["id"] != end["id"]:
        raise ValueError("the end names another call")
    if not _trace_id_ok(start.get("trace_id") or ""):
        raise ValueError(f"bad trace id {start.get('trace_id')!r}")
    if "parent_id" in start and not _call_id_ok(start["parent_id"]):
        raise ValueError(f"bad parent id {start['parent_id']!r}")
    op = start.get("op_name")
    if not isinstance(op, str) or not op or len(op) > 128 or op.startswith(REF_SCHEMES):
        raise ValueError(f"bad op_name {op!r}")
    if len(start.get("display_name") or "") > 1024:
        raise ValueError("display_name too long")
    if not isinstance(start.get("attributes"), dict) or not isinstance(start.get("inputs"), dict):
        raise ValueError("attributes and inputs must be objects")
    if not isinstance(end.get("summary"), dict):
        raise ValueError("summary is required")
    if _time(end.get("ended_at"), "ended_at") < _time(start.get("started_at"), "started_at"):
        raise ValueError("ended before it started")
    generation = start["attributes"].get("openrouter_generation_id")
    # the destination's default name, "weave", salts its ids (spancast.codec.ids)
    if start["id"] != str(uuid.uuid5(UUID_NAMESPACE, f"call:{generation}#{id_salt('weave'):016x}")):
        raise ValueError("the call id is not the generation's")
    return generation


def _batch(body: bytes) -> list:
    doc = json.loads(body)
    if not isinstance(doc, dict) or set(doc) != {"batch"} or not isinstance(doc["batch"], list):
        raise ValueError("expected {batch: [...]}")  # the request models forbid other keys
    return doc["batch"]


def decode(body: bytes, content_type: str) -> list[str]:
    """The generation ids of a calls/complete body; ValueError where Weave would answer 400/422."""
    ids = []
    for call in _batch(body):
        if not isinstance(call, dict) or set(call) - COMPLETE_FIELDS:
            raise ValueError(f"unknown fields {sorted(set(call) - COMPLETE_FIELDS)}")
        for key in ("id", "trace_id", "op_name", "started_at", "ended_at", "attributes", "inputs", "summary"):
            if key not in call:
                raise ValueError(f"{key} is required")
        start = {k: v for k, v in call.items() if k in START_FIELDS}
        end = {k: v for k, v in call.items() if k in END_FIELDS}
        ids.append(check_call(start, end))
    return ids


def decode_upsert(body: bytes, content_type: str) -> list[str]:
    """The generation ids of an upsert_batch body; ValueError where Weave would answer 400/422."""
    items = _batch(body)
    if len(items) % 2:
        raise ValueError("a start without its end")
    ids = []
    for start_item, end_item in zip(items[::2], items[1::2]):
        if start_item.get("mode") != "start" or set(start_item["req"]) != {"start"}:
            raise ValueError(f"expected a start item, got {start_item!r:.80}")
        if end_item.get("mode") != "end" or set(end_item["req"]) != {"end"}:
            raise ValueError(f"expected an end item, got {end_item!r:.80}")
        start, end = start_item["req"]["start"], end_item["req"]["end"]
        if set(start) - START_FIELDS or set(end) - END_FIELDS:
            raise ValueError(f"unknown fields {sorted(set(start) - START_FIELDS | set(end) - END_FIELDS)}")
        ids.append(check_call(start, end))
    return ids


def fake(default: Reply | None = None, upsert: bool = False) -> OtlpSink:
    expect = Expect(path=UPSERT_PATH if upsert else PATH, method="POST", content_types=frozenset({"application/json"}),
                    auth=check_auth, decode=decode_upsert if upsert else decode)
    return OtlpSink(expect, default=default)


def burst(sink, recs, **extra) -> dict:
    b = Broadcaster([config(sink.base_url, **extra)], max_batch_records=N, retry=FAST).start()
    for r in recs:
        b.emit(r)
    assert b.flush(10)
    stats = b.stats()
    b.close()
    (d,) = stats["destinations"].values()
    settled = d["delivered"] + sum(d["dropped"].values()) + d["filtered"] + d["sampled_out"]
    assert settled + d["queued"] + d["in_flight"] == d["received"], d
    return d


def assert_delivered(sink, recs):
    assert sorted(sink.generation_ids()) == sorted(r.id for r in recs)


# ---------------------------------------------------------------- the contract checks


def test_delivers_a_batch():
    recs = [full_record(i) for i in range(N)]
    with SinkThread(fake()) as sink:
        d = burst(sink, recs)
    assert_delivered(sink, recs)
    assert sink.problems == [] and d["delivered"] == N and len(sink.received) == 1


def test_obeys_429_retry_after_and_retries_503():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake())
    with thread as sink:
        thread.call(lambda s: s.script(Reply.error(429, retry_after_s=0.3), Reply.error(503)))
        began = time.monotonic()
        d = burst(sink, recs)
        took = time.monotonic() - began
    assert_delivered(sink, recs)
    assert d["retried"] == 2 and d["dropped"] == {}
    assert [r.status for r in sink.replies] == [429, 503, 200]
    assert took >= 0.3


def test_drops_a_400_and_counts_it():
    with SinkThread(fake(default=Reply.error(400, body=b"bad request: field x"))) as sink:
        d = burst(sink, [full_record(i) for i in range(N)])
    assert d["dropped"] == {"permanent_http_error": N} and d["retried"] == 0
    assert "field x" in d["last_error"]


def test_drops_a_422_and_counts_it():  # what Weave (FastAPI) answers for a body it cannot validate
    with SinkThread(fake(default=Reply.error(422, body=b'{"detail": [{"loc": ["body", "batch"]}]}'))) as sink:
        d = burst(sink, [full_record(i) for i in range(3)])
    assert d["dropped"] == {"permanent_http_error": 3} and d["retried"] == 0


def test_splits_on_413():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake())
    with thread as sink:
        thread.call(lambda s: s.script(Reply.error(413)))
        d = burst(sink, recs)
    assert_delivered(sink, recs)
    assert d["batches"].get("split") == 2 and len(sink.received) == 2 and sink.problems == []


def test_upsert_wire_splits_on_413_keeping_each_start_with_its_end():
    recs = [full_record(i) for i in range(N)]
    thread = SinkThread(fake(upsert=True))
    with thread as sink:
        thread.call(lambda s: s.script(Reply.error(413)))
        d = burst(sink, recs, callsComplete=False)
    assert_delivered(sink, recs)  # decode_upsert() refused any half that split a pair
    assert d["batches"].get("split") == 2 and len(sink.received) == 2 and sink.problems == []


def test_connection_test_passes_and_fails():
    with SinkThread(fake()) as sink:
        good = Broadcaster([config(sink.base_url)]).test_connection("weave")
        assert good.ok and good.status == 200, good
        assert sink.problems == [] and sink.generation_ids() == ["spancast-connection-test"]
        (received,) = sink.received
        (call,) = json.loads(received.body)["batch"]
        assert call["op_name"] == "spancast-connection-test" and call["trace_id"] == "0" * 31 + "1"
    with SinkThread(fake(default=Reply.error(403, body=b"forbidden"))) as sink:
        bad = Broadcaster([config(sink.base_url)]).test_connection("weave")
        assert not bad.ok and bad.status == 403 and "credentials" in bad.hint and bad.excerpt == "forbidden"
    with SinkThread(fake()) as sink:
        bad = Broadcaster([config(sink.base_url + "/nothing-here")]).test_connection("weave")
        assert not bad.ok and bad.status == 404 and "path" in bad.hint and "/calls/complete" in bad.hint
        assert "callsComplete: false" in bad.hint  # a server older than the route
    refused = Broadcaster([config("http://127.0.0.1:9")])
    result = refused.test_connection("weave", timeout_s=5)
    assert not result.ok and result.status is None and result.error and result.hint


def test_the_upsert_wire_on_request():
    with SinkThread(fake(upsert=True)) as sink:
        good = Broadcaster([config(sink.base_url, callsComplete=False)]).test_connection("weave")
        assert good.ok and sink.problems == [] and sink.generation_ids() == ["spancast-connection-test"]
        recs = [full_record(i) for i in range(3)]
        burst(sink, recs, callsComplete=False)
        assert sorted(sink.generation_ids()) == sorted(["spancast-connection-test"] + [r.id for r in recs])
    with SinkThread(fake(upsert=True)) as sink:
        bad = Broadcaster([config(sink.base_url + "/nothing-here", callsComplete=False)]).test_connection("weave")
        assert bad.status == 404 and "/call/upsert_batch" in bad.hint


def test_connection_test_explains_a_project_in_calls_complete_mode():
    # weave's own error (weave/trace/errors.py CallsCompleteModeRequired), as http_utils.py reads it
    body = b'{"error_code": "CALLS_COMPLETE_MODE_REQUIRED", "message": "Project requires calls_complete mode"}'
    with SinkThread(fake(default=Reply.error(400, body=body), upsert=True)) as sink:
        bad = Broadcaster([config(sink.base_url, callsComplete=False)]).test_connection("weave")
    assert not bad.ok and bad.status == 400 and "callsComplete: true" in bad.hint


def test_the_connection_probe_is_the_same_call_every_time():
    d = make_destination(config("https://backend.example"))
    first, _ = d.test_request()
    second, _ = d.test_request()
    ids = [json.loads(r.body)["batch"][0]["id"] for r in (first, second)]
    assert ids[0] == ids[1] == call_id("spancast-connection-test", d.id_salt)


def test_secrets_never_show(caplog):
    caplog.set_level(logging.DEBUG, logger="spancast")
    shown = []
    with SinkThread(fake(default=Reply.error(400, body=b"nope"))) as sink:
        b = Broadcaster([config(sink.base_url)], max_batch_records=N, retry=FAST).start()
        d = b.destinations[0]
        b.emit(full_record(1))
        b.flush(10)
        shown += [repr(b), repr(d), repr(d.settings), repr(d.request(b"{}")), repr(b.stats()), repr(b.lanes)]
        shown.append(json.dumps(b.preview(full_record(1), d.name)))
        shown.append(repr(b.test_connection(d.name)))
        b.close()
    for bad in ({"timeout_s": -1}, {"compression": "brotli"}, {"unknownKey": 1}, {"route": "grpc"},
                {"encoding": "json"}, {"resource": {"a": 1}}, {"entity": "a/b"}):
        with pytest.raises(ConfigError) as info:
            make_destination(config("http://127.0.0.1:9", **bad))
        shown += [str(info.value), repr(info.value)]
    shown += [record.getMessage() for record in caplog.records]
    text = "\n".join(shown)
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:4]}... shown"


def test_privacy_mode_sends_no_byte_of_the_content():
    secret_texts = ["PROMPT-7f3a needle", "COMPLETION-91bc needle", "REASONING-55de needle", "MESSAGE-c0ff needle",
                    "TOOLCALL-3e8a needle"]
    recs = [full_record(i, prompt=secret_texts[0], completion=secret_texts[1], reasoning=secret_texts[2],
                        messages=[{"role": "user", "content": secret_texts[3]}],
                        tool_calls=[{"id": "c1", "type": "function",
                                     "function": {"name": "f", "arguments": secret_texts[4]}}]) for i in range(N)]
    with SinkThread(fake()) as sink:
        burst(sink, recs, privacy_mode=True, compression="gzip")
    assert_delivered(sink, recs)
    for received in sink.received:
        assert received.encoding == "gzip" and gzip.decompress(received.raw) == received.body
        for text in secret_texts:
            for blob in (received.raw, received.body):
                assert text.encode() not in blob and text.split()[0].encode() not in blob
        for call in json.loads(received.body)["batch"]:
            # the model and its parameters without text (stop sequences go), nothing else
            assert set(call["inputs"]) == {"model", "temperature", "max_tokens", "top_p"}
            assert "output" not in call and call["summary"]["total_cost"] == 0.0075


def test_golden_request():
    cfg = config("https://backend.example")
    got = Broadcaster([cfg]).preview(full_record(7), make_destination(cfg).name)
    text = json.dumps(got, indent=2, sort_keys=True) + "\n"
    if os.environ.get("SPANCAST_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert GOLDEN.exists(), "no golden request for weave-calls: run with SPANCAST_UPDATE_GOLDEN=1 and review it"
    assert text == GOLDEN.read_text(), "weave-calls' request changed: review, then SPANCAST_UPDATE_GOLDEN=1"
    for secret in SECRETS:
        assert secret not in text


# ---------------------------------------------------------------- settings


def test_route_defaults_to_calls_and_otlp_changes_url_auth_and_size_cap():
    default = make_destination({k: v for k, v in config("https://trace.wandb.ai").items() if k != "route"})
    assert type(default) is WeaveCallsDestination  # OpenRouter's mapping is the call API's
    otlp = make_destination({**config("https://trace.wandb.ai"), "route": "otlp"})
    assert type(otlp) is WeaveDestination and otlp.url == "https://trace.wandb.ai/otel/v1/traces" and otlp.max_batch_bytes is None
    assert otlp.request(b"").headers["Content-Type"] == "application/x-protobuf"
    calls = make_destination(config("https://acme.wandb.io/traces/"))
    assert calls.url == f"https://acme.wandb.io/traces{PATH}" and calls.encoding == "json"
    upsert = make_destination(config("https://acme.wandb.io/traces/", callsComplete=False))
    assert upsert.url == "https://acme.wandb.io/traces/call/upsert_batch"
    # entity and project are one path segment each, percent-encoded as weave's generated client does
    odd = make_destination({**config("https://trace.wandb.ai"), "entity": "my team", "project": "a?b#c"})
    assert odd.url == "https://trace.wandb.ai/v2/my%20team/a%3Fb%23c/calls/complete"
    assert calls.max_batch_bytes == MAX_BATCH_BYTES == 31 * 1024 * 1024
    headers = calls.request(b"{}").headers
    assert headers["Content-Type"] == "application/json" and headers["Authorization"] == "Basic " + SECRETS[1]
    assert "wandb-api-key" not in headers and "project_id" not in headers
    # a user header cannot replace the auth
    own = make_destination(config("https://x.example", headers={"authorization": "mine", "X-Team": "ml"}))
    assert own.request(b"").headers == {"X-Team": "ml", "Authorization": "Basic " + SECRETS[1],
                                        "Content-Type": "application/json"}


def test_the_lane_batches_under_weaves_request_limit():
    b = Broadcaster([config("http://127.0.0.1:9")], max_batch_bytes=64 * 1024 * 1024).start()
    try:
        (lane,) = b.lanes
        assert lane.batcher.settings.max_batch_bytes == MAX_BATCH_BYTES
    finally:
        b.close()


@pytest.mark.parametrize("extra, path, words", [
    ({"route": "grpc"}, "d.route", "invalid enum value"),
    ({"route": "calls", "encoding": "json"}, "d.encoding", "route: otlp only"),
    ({"route": "calls", "resource": {"team": "ml"}}, "d.resource", "route: otlp only"),
    ({"route": "calls", "entity": "a/b"}, "d.entity", "must not contain '/'"),
    ({"route": "calls", "project": " "}, "d.project", "must not be empty"),
    ({"route": "calls", "baseUrl": "ftp://x"}, "d.baseUrl", "http(s) url"),
    ({"route": "otlp", "callsComplete": False}, "d.callsComplete", "route: calls only"),
])
def test_settings_errors_name_the_key(extra, path, words):
    mapping = {"type": "weave", "apiKey": KEY, "entity": "acme", "project": "checkout", **extra}
    with pytest.raises(ConfigError) as info:
        make_destination(mapping, "d")
    assert info.value.path == path and words in info.value.reason.lower()
    assert KEY not in str(info.value)


def test_a_missing_api_key_is_named_as_openrouter_writes_it():
    with pytest.raises(ConfigError) as info:
        make_destination({"type": "weave", "route": "calls", "entity": "a", "project": "b"}, "d")
    assert info.value.path == "d.apiKey"


# ---------------------------------------------------------------- ids and mapping


def _calls(rec: Generation):
    return render_calls(rec, "acme/checkout")


def test_ids_are_deterministic_and_what_weave_takes():
    a, b = full_record(1), full_record(2)
    assert _calls(a) == _calls(a)  # redelivery upserts the same call
    assert _calls(a)[0]["id"] != _calls(b)[0]["id"]
    start, end = _calls(a)
    assert _uuid_ok(start["id"]) and uuid.UUID(start["id"]).version == 5 and end["id"] == start["id"]
    assert start["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"  # an OTel trace id: kept, as the OTLP route sends it


@pytest.mark.parametrize("given, expect", [
    ("4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("0190B3C2-7A4E-7C1D-9E2F-123456789ABC", "0190b3c2-7a4e-7c1d-9e2f-123456789abc"),
])
def test_trace_ids_weave_takes_are_kept(given, expect):
    start, _ = _calls(full_record(trace={"trace_id": given}))
    assert start["trace_id"] == expect and start["attributes"]["openrouter_trace_id"] == given


def test_other_trace_ids_become_a_stable_uuid_and_stay_in_the_attributes():
    one, _ = _calls(full_record(1, trace={"trace_id": "checkout-42"}))
    two, _ = _calls(full_record(2, trace={"trace_id": "checkout-42"}))
    assert one["trace_id"] == two["trace_id"] and _uuid_ok(one["trace_id"])
    assert one["attributes"]["openrouter_trace_id"] == "checkout-42"
    alone, _ = _calls(full_record(3, trace=None))
    assert _trace_id_ok(alone["trace_id"]) and alone["trace_id"] != alone["id"] and "parent_id" not in alone
    assert "openrouter_trace_id" not in alone["attributes"]


@pytest.mark.parametrize("given, kept", [("00f067aa0ba902b7", True), ("00F067AA0BA902B7", True),
                                         ("0190b3c2-7a4e-7c1d-9e2f-123456789abc", True), ("span-7", False)])
def test_parent_span_ids(given, kept):
    start, _ = _calls(full_record(trace={"trace_id": "t", "parent_span_id": given}))
    assert _call_id_ok(start["parent_id"]) and (start["parent_id"] == given.lower()) is kept
    assert start["attributes"]["openrouter_parent_span_id"] == given


@pytest.mark.parametrize("trace, op, display", [
    ({"generation_name": "answer", "trace_name": "checkout-flow"}, "answer", "checkout-flow"),
    ({"generation_name": "answer", "trace_name": "answer"}, "answer", None),
    ({"trace_name": "checkout-flow"}, "checkout-flow", None),
    ({"generation_name": "answer"}, "answer", None),
    ({}, "openai/gpt-4o", None),
    ({"generation_name": "x" * 300, "trace_name": "y" * 2000}, "x" * 128, "y" * 1024),
    ({"generation_name": "weave:///acme/p/op/f:abc", "trace_name": "t"}, "t", None),
])
def test_op_name_and_display_name(trace, op, display):
    start, _ = _calls(full_record(trace=trace))
    assert start["op_name"] == op and start.get("display_name") == display


def test_attributes_inputs_output_summary():
    rec = full_record(trace={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_name": "tools", "user_id": "spoof",
                             "tier": "gold"},
                      reasoning="thinking", tool_calls=[{"id": "c1", "type": "function",
                                                         "function": {"name": "f", "arguments": "{}"}}])
    start, end = _calls(rec)
    attrs = start["attributes"]
    assert attrs["user_id"] == "user-42"  # a system key wins over a custom one
    assert attrs["tier"] == "gold" and attrs["span_name"] == "tools"
    assert attrs["session_id"] == start["thread_id"] == "sess-7" and attrs["openrouter_generation_id"] == rec.id
    assert start["inputs"]["messages"] == rec.messages and start["inputs"]["temperature"] == 0.7
    assert start["inputs"]["max_tokens"] == 512 and start["inputs"]["top_p"] == 1.0
    assert start["started_at"] == "2024-11-19T07:06:40.000000Z" and end["ended_at"] == "2024-11-19T07:06:41.250000Z"
    (choice,) = end["output"]["choices"]
    assert choice["message"] == {"role": "assistant", "content": rec.completion, "tool_calls": rec.tool_calls,
                                 "reasoning": "thinking"}
    assert choice["finish_reason"] == "stop"
    summary = end["summary"]
    assert summary["usage"] == {"openai/gpt-4o": {"requests": 1, "prompt_tokens": 1200, "completion_tokens": 300,
                                                  "total_tokens": 1500}}
    assert summary["total_cost"] == 0.0075 and summary["latency_ms"] == 1250.0 and "exception" not in end


def test_a_prompt_without_messages_and_an_error():
    rec = full_record(messages=None, prompt="Say hi", completion=None, status="error", error_type="ProviderError",
                      error_message="upstream 502", prompt_tokens=None, completion_tokens=None, total_tokens=None)
    start, end = _calls(rec)
    assert start["inputs"]["prompt"] == "Say hi" and "messages" not in start["inputs"]
    assert "output" not in end and "usage" not in end["summary"]
    assert end["exception"] == "ProviderError: upstream 502"
    _, bare = _calls(full_record(status="error"))
    assert bare["exception"] == "error"


def test_a_bad_record_is_refused_alone():
    encoder = make_destination(config("https://backend.example")).new_encoder()
    errors: list = []
    recs = [full_record(1), full_record(2, model_parameters={"huge": 2**70}), full_record(3)]
    encoder.append_many(recs, 0, 10, 1 << 20, errors)
    assert encoder.records == 2 and [i for i, _ in errors] == [1]
    assert decode(encoder.finish(), "application/json") == [recs[0].id, recs[2].id]
