"""Spans to Generation records: which spans are LLM calls, and the fields every convention shares.

A span is an LLM call when one convention says so (genai.py: gen_ai.operation.name chat,
text_completion, generate_content, embeddings, or a gen_ai model without an operation;
openinference.py: span kind LLM or EMBEDDING; traceloop.py: llm.request.type; openrouter.py:
span.type GENERATION). Agent, tool, chain and workflow spans are not: they are counted, and dropped
or forwarded (server.non_llm_spans).

Every convention fills what it knows (first one wins, in CONVENTIONS' order), then, from the span:

| record field | from |
|---|---|
| id | the convention's response id, else the span id (hex) |
| start_time_ns, end_time_ns | the span's times |
| status, error_type, error_message | status ERROR; error.type / exception.type, else the exception event's; the status message, else the event's exception.message |
| trace["trace_id"] | the span's trace id (hex), or spancast.original_trace_id when spancast made the id from a text |
| trace["parent_span_id"] | the span's parent id (hex), or spancast.original_parent_span_id |
| trace["trace_name"] | OpenRouter's trace.name, else the name of the request's root span when it is another span |
| trace["generation_name"] | the span's name, unless it is OpenRouter's default "LLM Generation" or the trace name |
| user, session_id | the span's, else the nearest ancestor's in the same request (user.id, session.id, gen_ai.conversation.id) |
| provider_attempts | child spans named "provider attempt N: <provider>" (OpenRouter's and spancast's), folded in: the provider (gen_ai.provider.name, else from the name), http.response.status_code (or status_code), the duration as latency, the status message as error |
| trace (custom metadata) | every attribute no convention read, under its own key |

The span's own id is not kept: destinations derive the generation span's id from the record id.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .. import record_checks
from ..codec import first_problem
from ..record import Generation, ProviderAttempt, _record_error
from . import genai, openinference, openrouter, traceloop
from .fields import Draft
from .spans import STATUS_ERROR, SpanIn, SpanProblem

__all__ = ["CONVENTIONS", "Mapped", "map_spans"]

CONVENTIONS = (genai, openinference, traceloop, openrouter)
#: Every convention's plain keys: attribute -> (record field, kind, rank); a lower rank wins a field.
TABLE: dict[str, tuple[str, str, int]] = {}
for _convention in CONVENTIONS:
    for _key, (_field, _kind) in _convention.KEYS.items():
        TABLE.setdefault(_key, (_field, _kind, len(TABLE)))
DEFAULT_NAMES = frozenset({"LLM Generation"})
_EXACT = {"str": str, "int": int, "float": float, "bool": bool}  # a value of this type needs no conversion
ORIGINAL_TRACE_ID = "spancast.original_trace_id"
ORIGINAL_PARENT_ID = "spancast.original_parent_span_id"
ATTEMPT_PREFIX = "provider attempt "
MAX_ANCESTORS = 64  # a parent chain is followed this far at most (a cycle in a bad request ends there)
_USER_KEYS = ("user.id", "gen_ai.user", "enduser.id")
_SESSION_KEYS = ("session.id", "gen_ai.conversation.id")


class Mapped:
    """What one request's spans became: records (with their span index), errors (index, where, field, reason),
    the spans that are not LLM calls, and how many attempt spans were folded into their generation."""

    __slots__ = ("errors", "folded", "other", "records")

    def __init__(self) -> None:
        self.records: list[tuple[int, Generation]] = []
        self.errors: list[tuple[int, str, str, str]] = []
        self.other: list[SpanIn] = []
        self.folded = 0

    def __repr__(self) -> str:
        return (f"<Mapped records={len(self.records)} errors={len(self.errors)} other={len(self.other)} "
                f"folded={self.folded}>")


def classify(span: SpanIn) -> str | None:
    """The record's operation when the span is an LLM call, else None."""
    attrs = span.attrs
    for convention in CONVENTIONS:
        op = convention.is_llm(attrs)
        if op is not None:
            return op
    return None


def map_spans(spans: list[SpanIn]) -> Mapped:
    out = Mapped()
    by_id = {s.span_id: s for s in spans if s.span_id}
    ops = {s.index: classify(s) for s in spans}
    attempts: dict[str, list[SpanIn]] = {}
    for span in spans:
        if ops[span.index] is None and _is_attempt(span, by_id, ops):
            attempts.setdefault(span.parent_span_id, []).append(span)
            out.folded += 1
    folded = {s.index for group in attempts.values() for s in group}
    for span in spans:
        op = ops[span.index]
        if op is None:
            if span.index not in folded:
                out.other.append(span)
            continue
        try:
            out.records.append((span.index, to_record(span, op, by_id, ops, attempts.get(span.span_id, ()))))
        except SpanProblem as exc:
            out.errors.append((span.index, span.where, exc.field, exc.reason))
    return out


def _is_attempt(span: SpanIn, by_id: dict[str, SpanIn], ops: dict[int, str | None]) -> bool:
    parent = by_id.get(span.parent_span_id)
    return (parent is not None and ops[parent.index] is not None and span.name.startswith(ATTEMPT_PREFIX)
            and _attempt_provider(span) is not None)


def _attempt_provider(span: SpanIn) -> str | None:
    """The provider of an attempt span: gen_ai.provider.name (spancast), else the name's "...: <provider>"."""
    provider = span.attrs.get("gen_ai.provider.name")
    if isinstance(provider, str) and provider:
        return provider
    return span.name.partition(": ")[2] or None


def _ancestors(span: SpanIn, by_id: dict[str, SpanIn]) -> list[SpanIn]:
    chain, seen = [], {span.span_id}
    parent = by_id.get(span.parent_span_id)
    while parent is not None and parent.span_id not in seen and len(chain) < MAX_ANCESTORS:
        chain.append(parent)
        seen.add(parent.span_id)
        parent = by_id.get(parent.parent_span_id)
    return chain


def to_record(span: SpanIn, op: str, by_id: dict[str, SpanIn], ops: dict[int, str | None],
              attempts: Any = ()) -> Generation:
    d = Draft(span)
    fields, ranks, table, used = d.fields, {}, TABLE, d.used
    for key, value in span.attrs.items():  # the plain keys, in one pass over the span
        spec = table.get(key)
        if spec is None or value is None:
            continue
        field, kind, rank = spec
        used.add(key)
        if _EXACT.get(kind) is not type(value):  # not already of its type: converted, or refused naming the key
            value = d.read(kind, key)
            if value is None:
                continue
        if ranks.get(field, rank + 1) > rank:
            fields[field], ranks[field] = value, rank
    for convention in CONVENTIONS:
        if not convention.HEADS.isdisjoint(d.heads):  # a convention none of whose keys is there reads nothing
            convention.apply(d)
    if fields.get("model") is None:
        fields["model"] = fields.get("response_model")
    if fields.get("response_model") == fields.get("model"):
        fields.pop("response_model", None)
    fields.setdefault("operation", op)
    if fields.get("model") is None:
        raise SpanProblem("gen_ai.request.model", "no model: none of gen_ai.request.model, gen_ai.response.model, "
                          "llm.model_name or llm.invocation_parameters' model")
    if fields.get("id") is None:
        if not span.span_id:
            raise SpanProblem("spanId", "no gen_ai.response.id and no span id to name the record by")
        fields["id"] = span.span_id
    fields["start_time_ns"], fields["end_time_ns"] = span.start_ns, span.end_ns
    _status(span, d)
    trace = d.trace
    original = d.str(ORIGINAL_TRACE_ID)
    trace["trace_id"] = original if original is not None else span.trace_id or None
    parent = d.str(ORIGINAL_PARENT_ID)
    trace["parent_span_id"] = parent if parent is not None else span.parent_span_id or None
    ancestors = _ancestors(span, by_id)
    root = ancestors[-1] if ancestors else None
    if "trace_name" not in trace and root is not None and ops[root.index] is None and not root.parent_span_id:
        trace["trace_name"] = root.name or None
    if span.name and span.name not in DEFAULT_NAMES and span.name != trace.get("trace_name"):
        trace["generation_name"] = span.name
    for field, keys in (("user", _USER_KEYS), ("session_id", _SESSION_KEYS)):
        if fields.get(field) is None:
            for ancestor in ancestors:
                found = next((ancestor.attrs[k] for k in keys if isinstance(ancestor.attrs.get(k), str)), None)
                if found is not None:
                    fields[field] = found
                    break
    if attempts:
        fields["provider_attempts"] = [_attempt(a) for a in sorted(attempts, key=_attempt_number)]
    for key, value in span.attrs.items():  # what no convention read is kept as metadata, under its key
        if key not in d.used and value is not None:
            d.put_trace(key, value)
    fields["trace"] = {k: v for k, v in trace.items() if v is not None} or None
    try:
        record = msgspec.convert(fields, Generation)
    except msgspec.ValidationError as exc:
        error = _record_error(exc, span.index)
        raise SpanProblem(error.field, error.reason) from None
    if first_problem((record,)) >= 0:  # the native scan says whether; record_checks says why
        raise SpanProblem(*record_checks.check(record))  # type: ignore[misc]
    return record


def _status(span: SpanIn, d: Draft) -> None:
    exception = next((attrs for name, _, attrs in span.events if name == "exception"), None)
    if span.status_code == STATUS_ERROR:
        d.put("status", "error")
    if d.fields.get("status") != "error":
        return
    if exception is not None:
        d.put("error_type", exception.get("exception.type") if isinstance(exception.get("exception.type"), str) else None)
    message = span.status_message or (exception or {}).get("exception.message")
    d.put("error_message", message if isinstance(message, str) and message else None)


def _attempt_number(span: SpanIn) -> int:
    number = span.name[len(ATTEMPT_PREFIX):].partition(":")[0]
    return int(number) if number.isdigit() else 0


def _attempt(span: SpanIn) -> ProviderAttempt:
    status = span.attrs.get("http.response.status_code", span.attrs.get("status_code"))
    error = span.status_message if span.status_code == STATUS_ERROR and span.status_message else None
    return ProviderAttempt(provider=_attempt_provider(span) or "",
                           status=status if isinstance(status, int) and 0 <= status <= 999 else None,
                           latency_ms=(span.end_ns - span.start_ns) / 1e6 if span.end_ns >= span.start_ns else None,
                           error=error)
