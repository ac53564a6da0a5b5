"""Emit one gen_ai chat span with Sentry's own Python SDK to a local sink: python sentry_emit.py URL < generation.json.

Through sentry-sdk's OTLPIntegration, which exports OpenTelemetry spans to the project's OTLP traces URL derived
from the DSN (the route spancast's sentry destination uses), with the attribute names the SDK's own AI
integrations write (sentry_sdk.consts.SPANDATA)."""
import json
import sys
from urllib.parse import urlsplit

import sentry_sdk
from opentelemetry import trace
from sentry_sdk.consts import SPANDATA
from sentry_sdk.integrations.otlp import OTLPIntegration

g = json.load(sys.stdin)
host = urlsplit(sys.argv[1]).netloc
sentry_sdk.init(dsn=f"http://publickey@{host}/1", traces_sample_rate=1.0, send_default_pii=True,
                default_integrations=False, integrations=[OTLPIntegration()])
tracer = trace.get_tracer("sentry-emit")
with tracer.start_as_current_span(g["trace_name"], start_time=g["start_time_ns"], end_on_exit=False) as root:
    root.set_attribute("user.id", g["user"])
    gen = tracer.start_span(g["name"], start_time=g["start_time_ns"], kind=trace.SpanKind.CLIENT)
    for key, value in {
        SPANDATA.GEN_AI_OPERATION_NAME: "chat", SPANDATA.GEN_AI_SYSTEM: g["provider"],
        SPANDATA.GEN_AI_PROVIDER_NAME: g["provider"], SPANDATA.GEN_AI_REQUEST_MODEL: g["model"],
        SPANDATA.GEN_AI_RESPONSE_FINISH_REASONS: [g["finish_reason"]],
        SPANDATA.GEN_AI_CONVERSATION_ID: g["session_id"],
        SPANDATA.GEN_AI_USAGE_INPUT_TOKENS: g["prompt_tokens"], SPANDATA.GEN_AI_USAGE_OUTPUT_TOKENS: g["completion_tokens"],
        SPANDATA.GEN_AI_USAGE_TOTAL_TOKENS: g["prompt_tokens"] + g["completion_tokens"],
        SPANDATA.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: g["cached_tokens"],
        SPANDATA.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: g["ttft_s"],
        SPANDATA.GEN_AI_REQUEST_TEMPERATURE: g["model_parameters"]["temperature"],
    }.items():
        gen.set_attribute(key, value)
    gen.end(end_time=g["end_time_ns"])
    root.end(end_time=g["end_time_ns"])
sentry_sdk.flush()
provider = trace.get_tracer_provider()
getattr(provider, "force_flush", lambda: None)()
getattr(provider, "shutdown", lambda: None)()
