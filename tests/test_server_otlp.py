"""POST /v1/traces on a real spancast serve: both wire forms, compressions, OTLP answers, bad input, forwarding."""

from __future__ import annotations

import gzip

import orjson
import zstandard
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client.parser import text_string_to_metric_families

from spancast.codec import encode_traces

import otlp_payloads as P
from conftest import full_record
from serving import run_server

PROTOBUF, JSON = "application/x-protobuf", "application/json"


def run(scenario, token: str | None = None, max_body_bytes: int | None = None, pipeline: dict | None = None,
        **server_settings):
    if max_body_bytes is not None:
        server_settings["max_body_bytes"] = max_body_bytes
    return run_server(scenario, token=token, server=server_settings, pipeline=pipeline)


async def post(session, body: bytes, content_type: str, **headers):
    async with session.post("/v1/traces", data=body, headers={"Content-Type": content_type, **headers}) as r:
        return r.status, r.headers.get("Content-Type"), await r.read()


async def span_counts(session) -> dict[str, float]:
    async with session.get("/metrics") as r:
        text = await r.text()
    family = next(f for f in text_string_to_metric_families(text) if f.name == "spancast_ingest_spans")
    return {s.labels["outcome"]: s.value for s in family.samples if s.name.endswith("_total")}


def test_protobuf_and_json_with_each_compression_are_taken_and_delivered():
    records = [full_record(i) for i in range(8)]
    pb = bytes(encode_traces(records[:4], format="protobuf"))
    js = bytes(encode_traces(records[4:], format="json"))

    async def scenario(server, session, sink):
        answers = [
            await post(session, pb, PROTOBUF),
            await post(session, gzip.compress(js[: len(js)]), JSON, **{"Content-Encoding": "gzip"}),
            await post(session, zstandard.ZstdCompressor().compress(pb), PROTOBUF, **{"Content-Encoding": "zstd"}),
        ]
        await sink.wait_for(lambda s: len(s.generation_ids()) == 12)
        return answers, sorted(sink.generation_ids()), await span_counts(session)

    answers, ids, counts = run(scenario)
    # an empty ExportTraceServiceResponse: no partial success
    assert answers == [(200, PROTOBUF, b""), (200, JSON, b"{}"), (200, PROTOBUF, b"")]
    assert ids == sorted([r.id for r in records[:4]] * 2 + [r.id for r in records[4:]])
    assert counts["generation"] == 12 and counts["rejected"] == 0


def test_partial_success_names_the_span_and_field_in_either_encoding():
    good = P.span("0000000000000001", "chat", P.attrs(gen_ai__request__model="m", gen_ai__response__id="gen-ok"))
    bad = P.span("0000000000000002", "chat", P.attrs(gen_ai__request__model="m", gen_ai__usage__output_tokens="lots"))
    doc = P.request(good, bad)
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    import base64

    proto_doc = orjson.loads(orjson.dumps(doc))
    for span in proto_doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId"):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    pb = json_format.ParseDict(proto_doc, ExportTraceServiceRequest()).SerializeToString()

    async def scenario(server, session, sink):
        as_json = await post(session, orjson.dumps(doc), JSON)
        as_pb = await post(session, pb, PROTOBUF)
        await sink.wait_for(lambda s: len(s.generation_ids()) == 2)
        return as_json, as_pb, sink.generation_ids(), await span_counts(session)

    (status, ctype, body), (pstatus, pctype, pbody), ids, counts = run(scenario)
    expected = ("span 1 (resourceSpans[0].scopeSpans[0].spans[1]): gen_ai.usage.output_tokens: "
                "expected an integer, got str")
    assert (status, ctype) == (200, JSON)
    assert orjson.loads(body) == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": expected}}
    answer = ExportTraceServiceResponse.FromString(pbody)
    assert (pstatus, pctype, answer.partial_success.rejected_spans, answer.partial_success.error_message) == (
        200, PROTOBUF, 1, expected)
    assert ids == ["gen-ok", "gen-ok"] and counts["rejected"] == 2 and counts["generation"] == 2


def test_bad_input_gets_the_status_it_deserves_never_a_500():
    doc = orjson.dumps(P.OLD_GENAI)
    bomb = zstandard.ZstdCompressor().compress(b'{"resourceSpans":[' + b" " * 200_000 + b"]}")

    async def scenario(server, session, sink):
        return {
            "no token": (await post(session, doc, JSON))[0],
            "token": (await post(session, doc, JSON, Authorization="Bearer t0ken"))[0],
            "text/plain": await post(session, doc, "text/plain", Authorization="Bearer t0ken"),
            "brotli": (await post(session, doc, JSON, Authorization="Bearer t0ken", **{"Content-Encoding": "br"}))[0],
            "malformed json": await post(session, b'{"resourceSpans": [', JSON, Authorization="Bearer t0ken"),
            "not otlp": (await post(session, b'[1, 2]', JSON, Authorization="Bearer t0ken"))[0],
            "garbage protobuf": (await post(session, b"\xff\xff\xff\x0f", PROTOBUF, Authorization="Bearer t0ken"))[0],
            "too big": (await post(session, b" " * 300_000, JSON, Authorization="Bearer t0ken"))[0],
            "bomb": await post(session, bomb, JSON, Authorization="Bearer t0ken", **{"Content-Encoding": "zstd"}),
            "bad gzip": (await post(session, b"\x1f\x8bnot", JSON, Authorization="Bearer t0ken",
                                    **{"Content-Encoding": "gzip"}))[0],
            "empty": await post(session, b"", PROTOBUF, Authorization="Bearer t0ken"),
        }

    got = run(scenario, token="t0ken", max_body_bytes=100_000)
    assert got["no token"] == 401 and got["token"] == 200
    status, ctype, body = got["text/plain"]
    assert status == 415 and ctype == JSON and "application/x-protobuf" in orjson.loads(body)["message"]
    assert got["brotli"] == 415
    status, _, body = got["malformed json"]
    assert status == 400 and orjson.loads(body)["code"] == 3 and "malformed JSON" in orjson.loads(body)["message"]
    assert got["not otlp"] == 400 and got["garbage protobuf"] == 400 and got["bad gzip"] == 400
    assert got["too big"] == 413
    status, _, body = got["bomb"]
    assert status == 413 and "once decompressed" in orjson.loads(body)["message"]
    assert got["empty"] == (200, PROTOBUF, b"")  # OpenRouter's webhook test sends an empty body


def test_spans_that_are_not_llm_calls_are_dropped_or_forwarded_unchanged():
    doc = orjson.dumps(P.OPENINFERENCE)  # a CHAIN span around an LLM span

    async def scenario(server, session, sink):
        answer = await post(session, doc, JSON)
        await sink.wait_for(lambda s: len(s.generation_ids()) == 1 and
                            (server.forwarder is None or sum(len(r.spans) for r in s.received) == 2))
        spans = [span for r in sink.received for span in r.spans]
        return answer, spans, await span_counts(session)

    answer, spans, counts = run(scenario)
    assert answer[0] == 200 and len(spans) == 1
    assert counts["not_llm_dropped"] == 1 and counts["not_llm_forwarded"] == 0

    answer, spans, counts = run(scenario, non_llm_spans="forward")
    assert answer[0] == 200 and counts["not_llm_forwarded"] == 1 and counts["not_llm_dropped"] == 0
    chain = next(s for s in spans if s["name"] == "my-chain")
    # as it came: its own ids and attributes
    assert (chain["trace_id"], chain["span_id"]) == (P.TRACE, "cccccccccccccccc")
    assert chain["attributes"] == {"openinference.span.kind": "CHAIN", "input.value": "question"}
    generation = next(s for s in spans if s["name"] == "ChatCompletion")
    assert generation["parent_span_id"] == "cccccccccccccccc"  # the tree holds: the record kept its parent


def test_no_room_for_all_of_a_request_takes_none_and_says_retry():
    from google.rpc.status_pb2 import Status  # the message OTLP/HTTP errors carry

    body = bytes(encode_traces([full_record(i) for i in range(5)], format="protobuf"))

    async def scenario(server, session, sink):
        async with session.post("/v1/traces", data=body, headers={"Content-Type": PROTOBUF}) as r:
            answer = (r.status, r.headers.get("Retry-After"), await r.read())
        return answer, len(server.broadcaster.intake), await span_counts(session)

    (status, retry_after, raw), queued, counts = run(scenario, pipeline={"intake_max_records": 3})
    error = Status.FromString(raw)
    assert (status, retry_after, error.code) == (503, "1", 14)  # UNAVAILABLE: retried whole by OTLP clients
    assert "no room for 5 records" in error.message
    assert queued == 0 and counts["refused"] == 5 and counts["generation"] == 0


def test_a_token_count_int_refuses_is_that_spans_error_not_a_500():
    def llm(span_id: str, tokens: str) -> dict:
        return P.span(span_id, "chat gpt-4o", P.attrs(gen_ai__operation__name="chat", gen_ai__request__model="gpt-4o",
                                                       gen_ai__response__id=f"chatcmpl-{span_id}",
                                                       gen_ai__usage__input_tokens=tokens))

    # int() refuses both ("--5" passes a digits-after-minus check; 5,000 digits pass the check, not int())
    doc = orjson.dumps(P.request(llm("0000000000000001", "--5"), llm("0000000000000002", "9" * 5000),
                                 llm("0000000000000003", "12")))

    async def scenario(server, session, sink):
        answer = await post(session, doc, JSON)
        await sink.wait_for(lambda s: s.generation_ids() == ["chatcmpl-0000000000000003"])
        return answer

    status, _, body = run(scenario)
    partial = orjson.loads(body)["partialSuccess"]
    assert status == 200 and int(partial["rejectedSpans"]) == 2
    assert "gen_ai.usage.input_tokens" in partial["errorMessage"] and "expected an integer" in partial["errorMessage"]


def test_a_forwarded_span_protobuf_cannot_hold_is_dropped_for_that_destination_and_the_rest_goes_on():
    chain = P.span("cccccccccccccccc", "my-chain", P.attrs(openinference__span__kind="CHAIN"))
    chain["links"] = [{"traceId": "zz", "spanId": "00f067aa0ba902b7"}]  # never read by the ingest, only re-encoded
    doc = orjson.dumps(P.request(chain, *P.OPENINFERENCE["resourceSpans"][0]["scopeSpans"][0]["spans"][1:]))

    async def scenario(server, session, sink):
        answer = await post(session, doc, JSON)
        await sink.wait_for(lambda s: len(s.generation_ids()) == 1)
        stats = server.traces.forwarder.stats["sink"]
        return answer, await span_counts(session), stats.dropped.get("invalid_record"), stats.last_error

    (status, _, _), counts, dropped, last_error = run(scenario, non_llm_spans="forward")
    assert status == 200 and counts["generation"] == 1
    assert dropped == 1 and "re-encoded as protobuf" in last_error and counts["not_llm_dropped"] == 1


def test_spans_are_forwarded_only_where_every_record_would_go_as_it_is():
    from spancast.destinations import make_destination
    from spancast.ingest.forward import forwards_to

    collector = {"type": "otel-collector", "name": "c", "endpoint": "http://127.0.0.1:1/v1/traces"}
    takes = {
        "plain": (collector, True),
        "privacy": ({**collector, "privacy_mode": True}, False),
        "redaction": ({**collector, "redact_patterns": ["email"]}, False),
        "api keys": ({**collector, "api_key_hashes": ["a" * 64]}, False),
        "filter rules": ({**collector, "filter_rules": {"groups": [{"rules": [
            {"field": "model", "operator": "equals", "value": "gpt-4o"}]}]}}, False),
        "sampling": ({**collector, "sampling_rate": 0.5}, False),
        "weave calls": ({"type": "weave", "name": "w", "apiKey": "k", "entity": "e", "project": "p"}, False),
        "weave otlp": ({"type": "weave", "name": "w", "apiKey": "k", "entity": "e", "project": "p",
                        "route": "otlp"}, True),
        "opik rest": ({"type": "opik", "name": "o", "apiKey": "k", "workspace": "w", "projectName": "p"}, False),
        "opik otlp": ({"type": "opik", "name": "o", "apiKey": "k", "workspace": "w", "projectName": "p",
                       "route": "otlp"}, True),
    }
    assert {name: forwards_to(make_destination(mapping)) for name, (mapping, _) in takes.items()} == \
        {name: expected for name, (_, expected) in takes.items()}
