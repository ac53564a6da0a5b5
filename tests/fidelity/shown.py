"""What a destination's UI shows for one generation, and what it should show for a record (the suite's model).

Every destination view reduces what it read back (a real server's API, or the vendor's rules applied to
spancast's request) to one ``Shown`` per generation; ``expected(rec)`` is the same from the record. A
test compares the fields a destination's UI has (its ``FIELDS``) and names the ones it has not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from spancast.record import TRACE_KEYS

#: Every field the model has; a destination's FIELDS is a subset.
ALL = ("name", "parent", "trace_name", "model", "input", "output", "tool_calls", "tool_results", "usage", "cost",
       "user", "session", "metadata", "error", "error_message", "duration_ms", "ttft_ms", "trace_error")


CALLERS = "<the caller's trace>"  # what a field shows is decided by spans the caller sends, not spancast


@dataclass
class Shown:
    """One generation as a UI shows it. Absent: None (or empty)."""

    name: str | None = None  # the observation's (span's, run's) name
    parent: str | None = None  # the name of the observation it hangs under, within its trace
    trace_name: str | None = None  # what the trace list calls its trace
    model: str | None = None
    input: list[tuple[str, str]] = field(default_factory=list)  # (role, text) of the prompt's messages
    output: str | None = None  # the answer's text
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)  # (name, arguments as an object)
    tool_results: list[str] = field(default_factory=list)  # the tool_call_id each tool message answers
    usage: dict[str, int] = field(default_factory=dict)  # input, output, total, cached, reasoning, cache_write
    cost: float | None = None  # total, USD
    user: str | None = None
    session: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # custom trace keys, as text
    error: bool = False
    error_message: str | None = None
    duration_ms: float | None = None
    ttft_ms: float | None = None
    trace_error: bool = False  # the trace as a whole is shown failed

    def only(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}


def text(value: Any) -> str:
    """A metadata value as UIs show it: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def json_or_text(value: Any) -> Any:
    """A value UIs parse when it is JSON text (tool arguments, MLflow's span inputs): parsed, else as it is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def expected(rec: Any, batch: list[Any]) -> Shown:
    """What a UI should show for rec (batch: the records sent with it, for its trace's status)."""
    trace = rec.trace or {}
    trace_name = trace.get("trace_name") or rec.model
    name = trace.get("generation_name") or rec.model
    parent = trace.get("span_name") or (trace_name if trace_name != name and trace else None)
    if trace.get("parent_span_id") is not None:
        # a child of the caller's span: the caller's root names the trace in Phoenix and MLflow (sent alone,
        # the top of ours does), Langfuse takes langfuse.trace.name: the trace name is not the record's to say
        parent = trace.get("span_name")
        trace_name = CALLERS
    shared = trace.get("trace_id")
    same = [r for r in batch if shared is not None and (r.trace or {}).get("trace_id") == shared] or [rec]
    messages = rec.messages or ([{"role": "user", "content": rec.prompt}] if rec.prompt else [])
    return Shown(
        name=name,
        parent=parent,
        trace_name=trace_name,
        model=rec.response_model or rec.model,
        input=[(m["role"], m["content"]) for m in messages if isinstance(m.get("content"), str) and m["role"] != "tool"],
        output=rec.completion,
        tool_calls=[(c["function"]["name"], json_or_text(c["function"]["arguments"])) for c in rec.tool_calls or ()],
        tool_results=[m["tool_call_id"] for m in messages if m.get("role") == "tool"],
        usage={k: v for k, v in (("input", rec.prompt_tokens), ("output", rec.completion_tokens),
                                 ("total", rec.total_tokens), ("cached", rec.cached_tokens),
                                 ("reasoning", rec.reasoning_tokens), ("cache_write", rec.cache_write_tokens))
               if v is not None},
        cost=rec.total_cost,
        user=rec.user,
        session=rec.session_id,
        metadata={k: text(v) for k, v in trace.items() if k not in TRACE_KEYS},
        error=rec.status == "error",
        error_message=rec.error_message if rec.status == "error" else None,
        duration_ms=(rec.end_time_ns - rec.start_time_ns) / 1e6,
        ttft_ms=rec.time_to_first_token_ms,
        trace_error=any(r.status == "error" for r in same),
    )


def compare(shown: dict[str, Shown], records: list[Any], checked: tuple[str, ...]) -> list[str]:
    """The differences, field by field, between what was shown and what the records say."""
    problems = []
    for rec in records:
        got = shown.get(rec.id)
        if got is None:
            problems.append(f"{rec.id}: not shown at all")
            continue
        want = expected(rec, records).only(checked)
        have = got.only(checked)
        for key in checked:
            if key == "model" and have[key] in (rec.model, rec.response_model):
                continue  # the requested or the answering model: UIs show one or the other
            if want[key] is CALLERS:
                continue
            if have[key] != want[key]:
                problems.append(f"{rec.id} {key}: shows {short(have[key])}, the record says {short(want[key])}")
    return problems


def short(value: Any) -> str:
    text_ = repr(value)
    return text_ if len(text_) < 300 else text_[:300] + "..."
