"""The realistic records every destination is shown: chat, tool calls, errors with attempts, shared traces, nesting."""

from __future__ import annotations

import time

from spancast import Generation, ProviderAttempt

LONG = ("Ünïcödé 🚀 \"quoted\" \\ back\tslash — " * 2500)[:80_000]  # 80k characters, multi-byte and escaped
TOOL = {"id": "call_weather_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Zürich", "unit": "c"}'}}


def scenario(run: str) -> list[Generation]:
    """One batch of generations, with ids, trace ids and sessions unique to `run` (the servers keep
    traces by id: each test run writes its own)."""
    now = time.time_ns() - 60 * 1_000_000_000  # a minute ago: inside every receiver's ingestion window
    second = 1_000_000_000

    def gen(n: int, **fields) -> Generation:
        base = dict(
            id=f"gen-{run}-{n}", start_time_ns=now + n * 10 * second, end_time_ns=now + n * 10 * second + 2 * second,
            model="openai/gpt-4o", response_model="gpt-4o-2024-08-06", provider="OpenAI", finish_reason="stop",
            prompt_tokens=1200, completion_tokens=300, cached_tokens=1000, reasoning_tokens=40, cache_write_tokens=100,
            input_cost=0.0021, output_cost=0.003, total_cost=0.0051, time_to_first_token_ms=350.0, streamed=True,
            model_parameters={"temperature": 0.3, "max_tokens": 800},
            user=f"user-{run}", session_id=f"sess-{run}",
            messages=[{"role": "system", "content": "You are a concise assistant."},
                      {"role": "user", "content": "What is OTLP?"}],
            completion="OTLP is the OpenTelemetry Protocol.",
        )
        base.update(fields)
        return Generation(**base)

    shared = f"workflow-{run}"  # not hex: hashed into a trace id, kept as spancast.original_trace_id
    return [
        gen(1, trace={"trace_name": "support-chat", "tier": "gold", "retries": 2}),
        gen(2, completion=None, finish_reason="tool_calls", tool_calls=[TOOL], reasoning="The user wants weather.",
            trace={"trace_id": shared, "trace_name": "research-agent", "generation_name": "plan"}),
        gen(3, messages=[{"role": "user", "content": "Weather in Zürich?"},
                         {"role": "assistant", "content": None, "tool_calls": [TOOL]},
                         {"role": "tool", "tool_call_id": "call_weather_1", "content": '{"temp_c": 21}'}],
            completion="It is 21 °C in Zürich.",
            trace={"trace_id": shared, "trace_name": "research-agent", "span_name": "answer-step",
                   "generation_name": "answer"}),
        gen(4, status="error", error_type="upstream_error", error_message="All providers failed: overloaded",
            completion=None, finish_reason=None, completion_tokens=0, reasoning_tokens=None, time_to_first_token_ms=None,
            output_cost=0.0, total_cost=0.0021,
            provider_attempts=[ProviderAttempt(provider="OpenAI", status=503, latency_ms=400.0, error="overloaded"),
                               ProviderAttempt(provider="Azure", status=429, latency_ms=150.0, error="rate limited")],
            trace={"trace_id": shared, "trace_name": "research-agent", "generation_name": "retry"}),
        gen(5, messages=[{"role": "user", "content": LONG}], completion="Ok: " + LONG[:2000],
            trace={"parent_span_id": "00f067aa0ba902b7", "span_name": "long-read", "trace_name": "ingest"}),
    ]
