"""Destinations are pure: settings with named errors, the request they describe, how they read answers."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from conftest import full_record
from spancast import ConfigError
from spancast.destinations import REGISTRY, make_destination
from spancast.destinations.otlp import partial_success
from spancast.pipeline.retry import Action
from spancast.testing.sink import JSON, PROTOBUF, Expect, OtlpSink, Reply

COLLECTOR = {"type": "otel-collector", "endpoint": "http://127.0.0.1:4318/v1/traces"}


def test_registry():
    generic = {"otel-collector", "webhook", "file"}
    presets = {"grafana", "langfuse", "langsmith", "newrelic", "sentry", "elastic"}  # tests/test_presets_otlp.py
    assert generic | presets <= set(REGISTRY)


@pytest.mark.parametrize("mapping, default, other", [
    ({"type": "opik", "apiKey": "opik_k", "workspace": "acme", "projectName": "p"}, "rest", "otlp"),
    ({"type": "weave", "apiKey": "k", "entity": "acme", "project": "p"}, "calls", "otlp"),
], ids=lambda v: v["type"] if isinstance(v, dict) else v)
def test_a_route_is_a_class_chosen_when_the_configuration_loads(mapping, default, other):
    from spancast.destinations import ROUTES
    from spancast.ingest.forward import forwards_to

    routes = ROUTES[mapping["type"]]
    assert type(make_destination(mapping)) is routes[default] is type(make_destination({**mapping, "route": default}))
    assert type(make_destination({**mapping, "route": other})) is routes[other] is REGISTRY[mapping["type"]]
    for cls in routes.values():  # one type, one settings schema, whichever route
        assert cls.type == mapping["type"] and cls.settings_class is REGISTRY[mapping["type"]].settings_class
    # only the OTLP route takes spans forwarded from the OTLP server
    assert forwards_to(make_destination({**mapping, "route": other}))
    assert not forwards_to(make_destination(mapping))
    with pytest.raises(ConfigError, match="route"):
        make_destination({**mapping, "route": "grpc"}, "d")


@pytest.mark.parametrize(
    "mapping, path, reason",
    [
        ({"type": "otel-collector"}, "d.endpoint", "missing required field"),
        ({**COLLECTOR, "endpoint": "collector:4318"}, "d.endpoint", "http(s) URL"),
        ({**COLLECTOR, "encoding": "xml"}, "d.encoding", "invalid enum value"),
        ({**COLLECTOR, "bogusKey": 1}, "d.bogusKey", "unknown key; expected one of "),
        ({**COLLECTOR, "compression": "br"}, "d.compression", "unknown compression"),
        ({**COLLECTOR, "compression": "gzip", "compressionLevel": 12}, "d.compression_level", "1 to 9"),
        ({**COLLECTOR, "timeout_s": 0}, "d.timeout_s", "must be > 0"),
        ({**COLLECTOR, "endpoint": "http://x", "base_url": "a", "baseUrl": "b"}, "d.baseUrl", "given twice"),
        ({"type": "kafka"}, "d.type", "unknown destination type 'kafka'"),
        ({"type": "webhook", "url": "https://x", "method": "GET"}, "d.method", "invalid enum value"),
        ("not a mapping", "d", "expected a mapping"),
    ],
)
def test_bad_settings_name_the_key(mapping, path, reason):
    with pytest.raises(ConfigError) as info:
        make_destination(mapping, "d")
    assert info.value.path == path and reason in info.value.reason


def test_camel_case_keys_are_accepted():
    d = make_destination({**COLLECTOR, "timeoutS": 3, "compressionLevel": 5, "compression": "gzip"})
    assert d.settings.timeout_s == 3 and d.compressor.level == 5


def test_requests_and_reprs_never_show_header_values():
    d = make_destination({**COLLECTOR, "name": "tempo", "headers": {"Authorization": "Bearer s3cret"}})
    req = d.request(b"xyz")
    assert (req.method, req.url, req.headers["Content-Type"]) == ("POST", COLLECTOR["endpoint"], PROTOBUF)
    assert req.headers["Authorization"] == "Bearer s3cret"
    for text in (repr(d), repr(req), str(req)):
        assert "s3cret" not in text
    hook = make_destination({"type": "webhook", "url": "https://hooks.example/otel", "method": "PUT"})
    assert (hook.request(b"{}").method, hook.request(b"{}").headers["Content-Type"]) == ("PUT", JSON)
    assert hook.new_encoder().format == "json"


def test_partial_success_is_read_from_both_encodings():
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    resp = ExportTraceServiceResponse()
    resp.partial_success.rejected_spans = 3
    resp.partial_success.error_message = "too old"
    assert partial_success(resp.SerializeToString(), PROTOBUF) == (3, "too old")
    assert partial_success(b'{"partialSuccess":{"rejectedSpans":"2","errorMessage":"x"}}', JSON) == (2, "x")
    assert partial_success(b"{}", JSON) == (0, "") and partial_success(b"", PROTOBUF) == (0, "")
    assert partial_success(b"\xff\xff\xff", PROTOBUF) == (0, "")  # unreadable: counted as no rejection
    d = make_destination(COLLECTOR)
    decision = d.classify(200, {"Content-Type": PROTOBUF}, resp.SerializeToString())
    assert (decision.action, decision.rejected_spans) == (Action.DELIVERED, 3)
    assert d.classify(503, {"Retry-After": "1"}, b"").action is Action.RETRY


@pytest.mark.parametrize("encoding, compression", [("protobuf", "none"), ("json", "gzip"), ("protobuf", "zstd")])
def test_a_real_receiver_accepts_what_the_destination_describes(encoding, compression):
    recs = [full_record(i) for i in range(5)]

    async def main():
        async with OtlpSink(Expect(headers={"Authorization": "Bearer t"})) as sink:
            sink.script(Reply.partial(1, "one bad"))
            d = make_destination(
                {**COLLECTOR, "endpoint": sink.url, "encoding": encoding, "compression": compression,
                 "headers": {"Authorization": "Bearer t"}}
            )
            enc = d.new_encoder()
            enc.extend(recs)
            req = d.request(enc.finish())
            headers = dict(req.headers)
            body = d.compressor.compress(req.body)
            if d.compressor.content_encoding:
                headers["Content-Encoding"] = d.compressor.content_encoding
            async with aiohttp.ClientSession() as s:
                async with s.request(req.method, req.url, data=body, headers=headers) as r:
                    decision = d.classify(r.status, r.headers, await r.read())
            return sink, decision

    sink, decision = asyncio.run(main())
    assert sink.problems == [] and sink.generation_ids() == [r.id for r in recs]
    assert (decision.action, decision.rejected_spans, decision.reason) == (Action.DELIVERED, 1, "one bad")


def test_a_user_content_type_header_does_not_go_out_beside_the_otlp_one():
    from spancast.destinations import make_destination

    d = make_destination({"type": "otel-collector", "endpoint": "http://127.0.0.1:9/v1/traces",
                          "headers": {"content-type": "text/plain", "X-Team": "a"}})
    assert dict(d.request(b"").headers) == {"X-Team": "a", "Content-Type": "application/x-protobuf"}
