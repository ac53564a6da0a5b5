"""Realistic generation records for `spancast demo` and first runs: models, sessions, usage, cost, errors."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

from .record import Generation, ProviderAttempt

__all__ = ["demo_records"]

# (model, provider, $ per 1M input tokens, $ per 1M output tokens): list prices, rounded
_MODELS = (
    ("openai/gpt-4o-mini", "OpenAI", 0.15, 0.60),
    ("openai/gpt-4o", "OpenAI", 2.50, 10.00),
    ("anthropic/claude-sonnet-4", "Anthropic", 3.00, 15.00),
    ("anthropic/claude-3.5-haiku", "Anthropic", 0.80, 4.00),
    ("google/gemini-2.5-flash", "Google AI Studio", 0.30, 2.50),
    ("meta-llama/llama-3.3-70b-instruct", "Groq", 0.59, 0.79),
    ("deepseek/deepseek-r1", "DeepInfra", 0.50, 2.18),
)
_TASKS = (
    ("Summarise this support ticket in two sentences.",
     "The customer cannot reset their password because the reset email never arrives. They have "
     "checked spam and asked for the account to be unlocked manually."),
    ("Translate to French: 'The invoice is attached.'", "La facture est jointe."),
    ("Write a SQL query counting orders per day for the last week.",
     "SELECT date_trunc('day', created_at) AS day, count(*) FROM orders "
     "WHERE created_at > now() - interval '7 days' GROUP BY 1 ORDER BY 1;"),
    ("Classify the sentiment of: 'Delivery was late again.'", "negative"),
    ("Extract the city from: 'Ship to 12 Rue Oberkampf, Paris'.", '{"city": "Paris"}'),
    ("Suggest a name for a cron-job monitoring tool.", "Heartbeat: it pages you when a job stops beating."),
)
_USERS = tuple(f"user_{n:03d}" for n in range(1, 41))
_APPS = ("support-bot", "sql-helper", "translator")


def demo_records(count: int, seed: int = 7, now_ns: int | None = None) -> Iterator[Generation]:
    """count records spread over the last minutes: a few sessions per user, 3% errors, some streamed."""
    rng = random.Random(seed)
    now = time.time_ns() if now_ns is None else now_ns
    sessions: dict[str, str] = {}
    for n in range(count):
        model, provider, in_price, out_price = rng.choice(_MODELS)
        question, answer = rng.choice(_TASKS)
        user = rng.choice(_USERS)
        if user not in sessions or rng.random() < 0.1:
            sessions[user] = f"sess-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        system = "You are a concise assistant for Acme Corp."
        prompt_tokens = rng.randint(40, 1800)
        completion_tokens = rng.randint(5, 600)
        latency_ms = rng.uniform(250, 4000) * (1.8 if "r1" in model else 1.0)
        start = now - int((count - n) * 150e6) - int(latency_ms * 1e6)
        failed = rng.random() < 0.03
        streamed = rng.random() < 0.4
        record = Generation(
            id=f"gen-demo-{seed}-{n:06d}",
            start_time_ns=start,
            end_time_ns=start + int(latency_ms * 1e6),
            model=model,
            response_model=model.split("/", 1)[1],
            provider=provider,
            status="error" if failed else "ok",
            error_type="rate_limit" if failed else None,
            error_message="Provider returned 429: rate limit reached" if failed else None,
            finish_reason=None if failed else rng.choice(("stop", "stop", "stop", "length")),
            prompt_tokens=prompt_tokens,
            completion_tokens=0 if failed else completion_tokens,
            cached_tokens=rng.choice((0, 0, prompt_tokens // 2)),
            reasoning_tokens=completion_tokens // 3 if "r1" in model and not failed else None,
            input_cost=round(prompt_tokens * in_price / 1e6, 8),
            output_cost=0.0 if failed else round(completion_tokens * out_price / 1e6, 8),
            time_to_first_token_ms=round(latency_ms * rng.uniform(0.1, 0.4), 1) if streamed else None,
            streamed=streamed,
            model_parameters={"temperature": rng.choice((0.0, 0.2, 0.7)), "max_tokens": 1024},
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            completion=None if failed else answer,
            user=user,
            session_id=sessions[user],
            trace={"trace_name": rng.choice(_APPS), "environment": "demo"},
            api_key_name="demo-key",
            provider_attempts=[ProviderAttempt(provider=provider, status=429, latency_ms=round(latency_ms, 1),
                                               error="rate limit reached")] if failed else None,
        )
        if record.total_cost is None:
            record.total_cost = round((record.input_cost or 0) + (record.output_cost or 0), 8)
        yield record
