"""OTLP JSON request bodies for the ingest tests, written by hand from each convention's documentation.

OPENROUTER is OpenRouter's Broadcast payload as its documentation describes it (OpenRouterTeam/docs
@ c26125a5: guides/features/broadcast.mdx, broadcast/webhook.mdx, grafana.mdx, otel-collector.mdx)
with the keys receivers are observed to read (notes/issue14/openrouter_payload.md): doc-based
evidence, not a capture of OpenRouter's traffic.
"""

from __future__ import annotations

from typing import Any

T0 = 1_732_000_000_000_000_000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def s(v: str) -> dict:
    return {"stringValue": v}


def i(v: int) -> dict:
    return {"intValue": str(v)}  # OTLP JSON writes 64-bit integers as strings


def d(v: float) -> dict:
    return {"doubleValue": v}


def attrs(**kv: Any) -> list[dict]:
    out = []
    for key, value in kv.items():
        key = key.replace("__", ".")
        out.append({"key": key, "value": value if isinstance(value, dict) else s(value)})
    return out


def span(span_id: str, name: str, attributes: list[dict], parent: str = "", trace: str = TRACE, start: int = T0,
         end: int = T0 + 1_250_000_000, status: dict | None = None, events: list | None = None, kind: int = 3) -> dict:
    out = {"traceId": trace, "spanId": span_id, "name": name, "kind": kind, "startTimeUnixNano": str(start),
           "endTimeUnixNano": str(end), "attributes": attributes, "status": status or {}}
    if parent:
        out["parentSpanId"] = parent
    if events:
        out["events"] = events
    return out


def request(*spans: dict, scope: str = "test", resource: list[dict] | None = None) -> dict:
    return {"resourceSpans": [{"resource": {"attributes": resource or attrs(service__name="app")},
                               "scopeSpans": [{"scope": {"name": scope}, "spans": list(spans)}]}]}


_PROMPT = '{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is OTLP?"}]}'
_COMPLETION = '{"completion":"OTLP is the OpenTelemetry Protocol.","reasoning":null,"toolCalls":[]}'

OPENROUTER = request(
    span("00f067aa0ba902b7", "LLM Generation", attrs(
        gen_ai__operation__name="chat", gen_ai__system="openai", gen_ai__provider__name="OpenAI",
        gen_ai__request__model="openai/gpt-4o", gen_ai__response__model="openai/gpt-4o-2024-08-06",
        gen_ai__response__id="gen-1732000000-abcdef", gen_ai__response__finish_reason="stop",
        gen_ai__usage__input_tokens=i(1200), gen_ai__usage__output_tokens=i(300), gen_ai__usage__total_tokens=i(1500),
        gen_ai__usage__input_tokens__cached=i(1024), gen_ai__usage__input_tokens__cache_write_5m=i(10),
        gen_ai__usage__input_tokens__cache_write_1h=i(5), gen_ai__usage__output_tokens__reasoning=i(20),
        gen_ai__usage__input_cost=d(0.003), gen_ai__usage__output_cost=d(0.0045), gen_ai__usage__total_cost=d(0.0075),
        gen_ai__prompt=_PROMPT, gen_ai__completion=_COMPLETION, trace__input=_PROMPT, span__input=_PROMPT,
        trace__output=_COMPLETION, span__output=_COMPLETION, trace__name="checkout-flow", span__type="GENERATION",
        user__id="user-42", session__id="sess-7", openrouter__source="openrouter",
        trace__metadata__customer_tier="gold", span__metadata__customer_tier="gold",
        trace__metadata__openrouter__api_key_name="prod-key", trace__metadata__openrouter__provider_name="OpenAI",
        trace__metadata__openrouter__finish_reason="STOP", trace__metadata__openrouter__first_token_ms=d(412.5),
        trace__metadata__openrouter__router_latency_ms=d(12.0), trace__metadata__openrouter_generation__usage=d(0.0075),
        trace__metadata__openrouter_generation__is_byok={"boolValue": False},
    ), kind=1),
    span("1111111111111111", "provider attempt 1: Azure", attrs(http__response__status_code=i(503)),
         parent="00f067aa0ba902b7", end=T0 + 120_500_000, status={"code": 2, "message": "overloaded"}, kind=1),
    span("2222222222222222", "provider attempt 2: OpenAI", attrs(http__response__status_code=i(200)),
         parent="00f067aa0ba902b7", start=T0 + 120_500_000, end=T0 + 1_250_000_000, kind=1),
    span("00f067aa0ba902b8", "LLM Generation", attrs(
        gen_ai__operation__name="chat", gen_ai__request__model="anthropic/claude-sonnet-4",
        gen_ai__response__id="gen-1732000001-failed", span__type="GENERATION", span__level="ERROR",
        gen_ai__prompt='{"messages":[{"role":"user","content":"hi"}]}', gen_ai__completion='{"completion":null}',
    ), status={"code": 2, "message": "Provider returned error"}, kind=1),
    scope="openrouter",
    resource=attrs(service__name="openrouter", service__version="1.0.0", openrouter__trace__id="gen-1732000000-abcdef"),
)

#: The older GenAI keys: gen_ai.prompt / gen_ai.completion indexed (Traceloop before the conventions moved),
#: gen_ai.usage.prompt_tokens / completion_tokens, and an agent span around the call.
OLD_GENAI = request(
    span("aaaaaaaaaaaaaaaa", "agent run", attrs(session__id="conv-1", user__id="u-7"), kind=1),
    span("bbbbbbbbbbbbbbbb", "openai.chat", attrs(
        llm__request__type="chat", gen_ai__system="OpenAI", gen_ai__request__model="gpt-4o-mini",
        gen_ai__response__model="gpt-4o-mini-2024-07-18", gen_ai__usage__prompt_tokens=i(12),
        gen_ai__usage__completion_tokens=i(5), llm__usage__total_tokens=i(17), gen_ai__request__temperature=d(0.5),
        gen_ai__prompt__0__role="user", gen_ai__prompt__0__content="Hello",
        gen_ai__completion__0__role="assistant", gen_ai__completion__0__content="Hi!",
        gen_ai__completion__0__finish_reason="stop", llm__is_streaming={"boolValue": True},
        traceloop__association__properties__customer="acme", server__address="api.openai.com",
    ), parent="aaaaaaaaaaaaaaaa"),
)

#: OpenInference flattened messages with a tool call, and a CHAIN span that is not an LLM call.
OPENINFERENCE = request(
    span("cccccccccccccccc", "my-chain", attrs(openinference__span__kind="CHAIN", input__value="question"), kind=1),
    span("dddddddddddddddd", "ChatCompletion", attrs(
        openinference__span__kind="LLM", llm__model_name="gpt-4o-2024-08-06", llm__provider="openai",
        llm__invocation_parameters='{"model": "gpt-4o", "temperature": 0.1}',
        llm__input_messages__0__message__role="user", llm__input_messages__0__message__content="Weather in Paris?",
        llm__output_messages__0__message__role="assistant",
        llm__output_messages__0__message__tool_calls__0__tool_call__id="call_1",
        llm__output_messages__0__message__tool_calls__0__tool_call__function__name="get_weather",
        llm__output_messages__0__message__tool_calls__0__tool_call__function__arguments='{"city": "Paris"}',
        llm__token_count__prompt=i(40), llm__token_count__completion=i(9), llm__token_count__total=i(49),
        llm__cost__total=d(0.0001), session__id="s-9", metadata='{"team": "search"}',
    ), parent="cccccccccccccccc", kind=1),
)
