"""What real instrumentations send reaches every destination through spancast serve's POST /v1/traces.

Each stock instrumentation from PyPI (OpenTelemetry's openai-v2, OpenInference's, Traceloop's)
instruments the real openai client, which calls a local fake of OpenAI's API; the SDK's
BatchSpanProcessor and OTLP/HTTP exporter send the spans to a real `spancast serve`, which delivers
to a local OTLP receiver and to a file destination. The records must carry what the app did: ids,
model, tokens, messages, the answer, user and session, the trace, the failed call.
"""

from __future__ import annotations

import asyncio
import importlib
import json

import openai
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from spancast.config import parse_config
from spancast.server import Server
from spancast.testing.sink import OtlpSink

import otlp
from fake_openai import ANSWER, FakeOpenAI

#: name -> (module with OpenAIInstrumentor, environment it reads to record message content)
INSTRUMENTATIONS = {
    "opentelemetry-instrumentation-openai-v2": ("opentelemetry.instrumentation.openai_v2", {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}),
    "openinference-instrumentation-openai": ("openinference.instrumentation.openai", {}),
    "opentelemetry-instrumentation-openai (Traceloop)": ("opentelemetry.instrumentation.openai", {
        "TRACELOOP_TRACE_CONTENT": "true"}),
}
QUESTION = "What is the capital of France?"


def drive(base_url: str, provider: TracerProvider) -> dict[str, str]:
    """The app: one agent span around a plain call, a streamed call and a call that fails."""
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    messages = [{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": QUESTION}]
    tracer = provider.get_tracer("the-app")
    with tracer.start_as_current_span("checkout-agent") as root:
        root.set_attribute("session.id", "sess-42")
        root.set_attribute("user.id", "user-7")
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2, max_tokens=64)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                stream_options={"include_usage": True})
        for _ in stream:
            pass
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="broken", messages=messages)
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()  # flushes the batch: the whole trace goes in one export request
    return {"trace_id": trace_id}


def _answer(attributes):
    (message,) = json.loads(attributes["gen_ai.output.messages"])
    return "".join(part["content"] for part in message["parts"] if part["type"] == "text")


@pytest.mark.parametrize("name", list(INSTRUMENTATIONS))
def test_a_stock_instrumentation_fans_out_through_spancast(name, monkeypatch, tmp_path):
    module_name, env = INSTRUMENTATIONS[name]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    instrumentor = importlib.import_module(module_name).OpenAIInstrumentor()

    async def main():
        async with FakeOpenAI() as fake, OtlpSink() as sink:
            config = parse_config({
                "pipeline": {"flush_interval_s": 0.05},
                "destinations": [{"type": "otel-collector", "name": "collector", "endpoint": sink.url},
                                 {"type": "file", "name": "file", "directory": str(tmp_path)}]})
            server = Server(config, port=0)
            await server.start()
            try:
                provider = TracerProvider()
                provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces")))
                instrumentor.instrument(tracer_provider=provider)
                try:
                    app = await asyncio.to_thread(drive, fake.base_url, provider)
                finally:
                    instrumentor.uninstrument()
                await sink.wait_for(lambda s: len(s.received) and sum(len(r.spans) for r in s.received) >= 3)
                await server.broadcaster.aflush(5)
                failed_status = next((s.status.code, s.status.message) for r in sink.received
                                     for s in otlp.spans(otlp.parse_pb(r.body))
                                     if otlp.attrs(s).get("gen_ai.request.model") == ("string", "broken"))
                spans = [span for r in sink.received for span in r.spans]
                return app, spans, dict(server.traces.spans), failed_status
            finally:
                await server.stop(5)

    app, spans, counts, failed_status = asyncio.run(main())
    assert counts["generation"] == 3 and counts["rejected"] == 0 and counts["not_llm_dropped"] == 1
    by_id = {span["attributes"].get("gen_ai.response.id"): span for span in spans}
    plain, streamed = by_id["chatcmpl-fake0001"], by_id["chatcmpl-fake0002"]
    failed = next(span for span in spans if span["attributes"].get("gen_ai.request.model") == "broken")
    for span in (plain, streamed, failed):
        a = span["attributes"]
        assert span["trace_id"] == app["trace_id"]  # the app's trace, kept
        assert (a["user.id"], a["session.id"]) == ("user-7", "sess-42")  # from the agent span around the calls
        assert span["name"] not in ("", "LLM Generation")  # the instrumentation's own span name
        assert "What is the capital of France?" in a["gen_ai.input.messages"]
    a = plain["attributes"]
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"], a["gen_ai.usage.total_tokens"]) == (21, 7, 28)
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 64
    assert {"role": "user", "parts": [{"type": "text", "content": QUESTION}]} in json.loads(a["gen_ai.input.messages"])
    assert _answer(a) == ANSWER
    assert a["gen_ai.system"] == "openai" and a["gen_ai.response.finish_reasons"] == ["stop"]
    assert _answer(streamed["attributes"]) == ANSWER
    assert "BadRequestError" in failed["attributes"]["error.type"]
    assert failed_status[0] == 2 and failed_status[1]  # ERROR, with the instrumentation's message
    # the file destination got the same three generations
    lines = [orjson.loads(line) for path in tmp_path.iterdir() for line in path.read_bytes().splitlines()]
    ids = {kv["value"].get("stringValue") for doc in lines for rs in doc["resourceSpans"] for ss in rs["scopeSpans"]
           for s in ss["spans"] for kv in s["attributes"] if kv["key"] == "gen_ai.response.id"}
    assert {"chatcmpl-fake0001", "chatcmpl-fake0002"} <= ids and len(lines) >= 1
