"""OTLP/gRPC on spancast serve (server.grpc_port): the SDK's own gRPC exporter feeds it; answers as OTLP/gRPC says."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spancast.codec import encode_traces
from spancast.config import parse_config
from spancast.errors import ListenError
from spancast.server import Server
from spancast.testing.sink import OtlpSink

import otlp_payloads as P
from conftest import free_port, full_record

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def run(scenario, token: str | None = None, grpc_port: int | None = None):
    async def main():
        async with OtlpSink() as sink:
            config = parse_config({"pipeline": {"flush_interval_s": 0.05},
                                   "server": {"grpc_port": free_port() if grpc_port is None else grpc_port},
                                   "destinations": [{"type": "otel-collector", "name": "sink", "endpoint": sink.url}]})
            server = Server(config, port=0, token=token)
            await server.start()
            try:
                return await scenario(server, sink)
            finally:
                await server.stop(5)

    return asyncio.run(main())


def call(port: int, body: bytes, token: str | None = None):
    """One raw Export call: (status code, details, response bytes)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        export = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        try:
            return grpc.StatusCode.OK, "", export(body, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            return exc.code(), exc.details(), b""


def test_the_sdks_grpc_exporter_feeds_spancast():
    def app(port: int) -> str:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{port}", insecure=True, headers={"authorization": "Bearer t0k"})
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("the-app")
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.id": "chatcmpl-1",
                "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3, "session.id": "s-1"}) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
        provider.shutdown()
        return trace_id

    async def scenario(server, sink):
        trace_id = await asyncio.to_thread(app, server.grpc.port)
        await sink.wait_for(lambda s: s.generation_ids() == ["chatcmpl-1"])
        # a trace id of its own gets spancast's root span above the generation (gen_ai flavour)
        root, span = sorted((span for r in sink.received for span in r.spans),
                            key=lambda span: "gen_ai.response.id" in span["attributes"])
        return trace_id, root, span, dict(server.traces.spans)

    trace_id, root, span, counts = run(scenario, token="t0k")
    assert span["trace_id"] == root["trace_id"] == trace_id and span["attributes"]["gen_ai.usage.input_tokens"] == 12
    assert span["attributes"]["gen_ai.response.id"] == "chatcmpl-1" and span["parent_span_id"] == root["span_id"]
    assert root["attributes"]["session.id"] == "s-1" and counts["generation"] == 1


def test_grpc_answers_partial_success_and_status_codes():
    good = bytes(encode_traces([full_record(1)], format="protobuf"))
    import orjson
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    import base64

    doc = orjson.loads(orjson.dumps(P.request(P.span("0000000000000002", "chat", P.attrs(
        gen_ai__request__model="m", gen_ai__usage__output_tokens="lots")))))
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId"):
            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    bad_span = json_format.ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()

    async def scenario(server, sink):
        port = server.grpc.port
        results = {name: await asyncio.to_thread(call, port, body, token) for name, body, token in (
            ("ok", good, "t0k"), ("bad span", bad_span, "t0k"), ("no token", good, None),
            ("garbage", b"\xff\xff\xff\x0f", "t0k"))}
        await sink.wait_for(lambda s: len(s.generation_ids()) == 1)
        return results

    got = run(scenario, token="t0k")
    assert got["ok"] == (grpc.StatusCode.OK, "", b"")
    code, _, raw = got["bad span"]
    answer = ExportTraceServiceResponse.FromString(raw)
    assert code == grpc.StatusCode.OK and answer.partial_success.rejected_spans == 1
    assert "gen_ai.usage.output_tokens: expected an integer" in answer.partial_success.error_message
    assert got["no token"][0] == grpc.StatusCode.UNAUTHENTICATED
    assert got["garbage"][0] == grpc.StatusCode.INVALID_ARGUMENT


def test_a_grpc_port_in_use_stops_serve_with_its_reason():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ListenError, match="gRPC"):
            run(lambda server, sink: asyncio.sleep(0), grpc_port=taken.getsockname()[1])
