"""Deterministic, realistic Generation records for the benchmarks ("full" with chat content, "small" without)."""

from __future__ import annotations

import random
from typing import Callable

from spancast import Generation

__all__ = ["WORKLOADS", "make_records", "full_record", "small_record"]

_WORDS = (
    "the of and to in is for that on with as it be this are by from at an or have not was "
    "customer account order invoice refund shipment delivery warehouse policy request ticket "
    "agent summary response context question answer detail issue status update payment card "
    "subscription plan upgrade billing cycle period date amount total balance credit charge "
    "please explain why how when where which should would could must may can will "
    "model token latency budget cost provider region cluster service deployment release "
    "analysis report metric dashboard trend quarter revenue growth churn retention cohort "
    "document section paragraph table figure reference source citation evidence claim "
    "follow previous message conversation history instruction format concise friendly tone"
).split()

_MODELS = (
    ("openai/gpt-4o-mini", "gpt-4o-mini-2024-07-18", "OpenAI", 0.15e-6, 0.6e-6),
    ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet-20241022", "Anthropic", 3e-6, 15e-6),
    ("google/gemini-1.5-flash", "gemini-1.5-flash-002", "Google", 0.075e-6, 0.3e-6),
    ("meta-llama/llama-3.1-70b-instruct", "meta-llama/Llama-3.1-70B-Instruct", "Together", 0.88e-6, 0.88e-6),
    ("mistralai/mistral-large", "mistral-large-2411", "Mistral", 2e-6, 6e-6),
)
_TRACE_NAMES = ("support-chat", "summarize-ticket", "invoice-qa", "draft-reply", "classify-intent")
_FEATURES = ("inbox-assist", "billing-bot", "search-answers", "agent-copilot")
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_BASE_NS = 1_732_000_000_000_000_000  # 2024-11-19, in nanoseconds


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(8, 20))
    if rng.random() < 0.15:  # a quoted term now and then, as prompts have
        i = rng.randrange(len(words))
        words[i] = f'"{words[i]}"'
    return " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", ":"))


def _text(rng: random.Random, target: int) -> str:
    """Prose of about `target` characters, in short paragraphs and the odd bullet list."""
    target = int(target * rng.uniform(0.9, 1.1))
    parts: list[str] = []
    size = 0
    while size < target:
        if rng.random() < 0.12:
            piece = "\n" + "\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 3))) + "\n"
        else:
            piece = _sentence(rng) + ("\n\n" if rng.random() < 0.2 else " ")
        parts.append(piece)
        size += len(piece)
    return "".join(parts)[:target].rstrip()


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _base(rng: random.Random, i: int, seed: int) -> dict:
    """The fields both workloads share; content lengths drive the token counts."""
    model, response_model, provider, in_price, out_price = rng.choice(_MODELS)
    start = _BASE_NS + i * 47_000_000 + rng.randrange(40_000_000)
    return {
        "id": f"gen-{1732000000 + i // 8}-{''.join(rng.choices(_ALNUM, k=20))}",
        "start_time_ns": start,
        "end_time_ns": start + rng.randrange(400_000_000, 8_000_000_000),
        "model": model,
        "response_model": response_model,
        "provider": provider,
        "finish_reason": "stop" if rng.random() < 0.93 else "length",
        "model_parameters": {
            "temperature": round(rng.uniform(0.0, 1.0), 2),
            "max_tokens": rng.choice((256, 512, 1024, 2048)),
            "top_p": rng.choice((1.0, 0.95, 0.9)),
        },
        "user": f"user_{_hex(rng, 12)}",
        "session_id": f"sess-{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 12)}",
        "trace": {
            "trace_id": _hex(rng, 32),
            "trace_name": rng.choice(_TRACE_NAMES),
            "environment": "production" if rng.random() < 0.9 else "staging",
            "feature": rng.choice(_FEATURES),
        },
        "_prices": (in_price, out_price),
        "_seed": seed,
    }


def _finish(fields: dict, prompt_chars: int, completion_chars: int) -> Generation:
    in_price, out_price = fields.pop("_prices")
    fields.pop("_seed")
    prompt_tokens = max(1, prompt_chars // 4)
    completion_tokens = max(1, completion_chars // 4)
    input_cost = round(prompt_tokens * in_price, 9)
    output_cost = round(completion_tokens * out_price, 9)
    return Generation(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        input_cost=input_cost,
        output_cost=output_cost,
        total_cost=round(input_cost + output_cost, 9),
        **fields,
    )


def full_record(rng: random.Random, i: int, seed: int) -> Generation:
    """22 attributes: ~1.5 KB three-message prompt (as JSON), ~1 KB completion; one span of ~3.4 KB."""
    fields = _base(rng, i, seed)
    messages = [
        {"role": "system", "content": _text(rng, 330)},
        {"role": "user", "content": _text(rng, 760)},
        {"role": "user", "content": _text(rng, 260)},
    ]
    completion = _text(rng, 990)
    fields["messages"] = messages
    fields["completion"] = completion
    return _finish(fields, sum(len(m["content"]) for m in messages), len(completion))


def small_record(rng: random.Random, i: int, seed: int) -> Generation:
    """The same metadata as "full" without content (no messages, prompt or completion): 20 attributes."""
    fields = _base(rng, i, seed)
    return _finish(fields, rng.randint(900, 1800), rng.randint(600, 1200))


WORKLOADS: dict[str, Callable[[random.Random, int, int], Generation]] = {
    "full": full_record,
    "small": small_record,
}


def make_records(workload: str, n: int, seed: int = 1234) -> list[Generation]:
    """n records of a workload, the same for a given seed, each with its own id and trace id."""
    try:
        make = WORKLOADS[workload]
    except KeyError:
        raise ValueError(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}") from None
    rng = random.Random(f"{workload}:{seed}")
    return [make(rng, i, seed) for i in range(n)]
