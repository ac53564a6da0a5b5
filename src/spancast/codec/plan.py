"""Attribute plans: which record fields become which span attributes, per flavour, as data.

A flavour (``gen_ai``, ``openinference``, ``langfuse``, ``langsmith``) is a
tuple of :class:`Attr` steps computed once. Both encoders (the Cython one and
its pure-Python twin) interpret the same steps in the same order, so adding a
flavour adds data here, not a code path in either encoder.

Value typing shared by every step that writes a free-form value (model
parameters, custom trace metadata, resource attributes):

    None -> empty AnyValue     bool -> boolValue      str -> stringValue
    int in int64 -> intValue   other int -> stringValue (decimal)
    float -> doubleValue       list / tuple / dict -> stringValue (canonical JSON)
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from ..record import Generation, TRACE_KEYS

__all__ = ["Op", "Attr", "AttributePlan", "get_plan", "FLAVORS"]


# trace keys with a meaning of their own are not custom metadata.
_RESERVED = frozenset(TRACE_KEYS)


class Op(enum.IntEnum):
    """What one plan step does. The Cython encoder's ``cdef enum`` mirrors these numbers."""

    STR = 1  # field (str) -> stringValue
    STR_LOWER = 2  # field (str), lower-cased -> stringValue
    STR_OR = 3  # field, else arg (another field) -> stringValue
    STR_ARRAY = 4  # field (str) -> arrayValue of one stringValue
    INT = 5  # field (int64) -> intValue
    DOUBLE = 6  # field (float) times arg (a scale; 1.0 = as is) -> doubleValue
    BOOL = 7  # field -> boolValue (truthiness)
    CONST = 8  # arg (str) -> stringValue, always
    EXPAND = 9  # field (a mapping) -> per entry not in arg (keys to skip): key + entry key, typed value
    JSON = 10  # field (any JSON value) -> stringValue holding its canonical JSON
    JSON_OBJECT = 11  # arg: ((json key, field), ...) -> stringValue {json key: value} of the present fields
    TEXT_OR_JSON = 12  # arg: (text field, json field) -> the text as is, else the JSON of the other
    MIME_OF = 13  # arg: (text field, json field) -> "text/plain" or "application/json", as TEXT_OR_JSON chose
    MESSAGES = 14  # field (chat messages) -> key.N.message.role / .content / .tool_calls.M.tool_call.*
    OUTPUT_MESSAGE = 15  # one assistant message from completion + tool_calls, keys as MESSAGES
    CUSTOM_JSON = 16  # field (a mapping) without the keys in arg -> one JSON object string
    ENTRY = 17  # field (a mapping) -> its entry arg (a key), typed value; nothing when absent or None


class Attr(NamedTuple):
    """One step of a plan: an op, the attribute key (or key prefix), the record field, an argument."""

    op: Op
    key: str
    field: str | None = None
    arg: Any = None


class AttributePlan(NamedTuple):
    """A flavour compiled: the steps for the generation span and the constants for helper spans."""

    name: str
    steps: tuple[Attr, ...]
    # Attributes of the intermediate span (trace.span_name): constant strings.
    intermediate: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        return f"<AttributePlan {self.name} steps={len(self.steps)}>"


def _gen_ai() -> AttributePlan:
    A = Attr
    steps = (
        A(Op.STR, "gen_ai.operation.name", "operation"),
        A(Op.STR_LOWER, "gen_ai.system", "provider"),
        A(Op.STR, "gen_ai.provider.name", "provider"),
        A(Op.STR, "gen_ai.request.model", "model"),
        A(Op.STR_OR, "gen_ai.response.model", "response_model", "model"),
        A(Op.STR, "gen_ai.response.id", "id"),
        A(Op.STR_ARRAY, "gen_ai.response.finish_reasons", "finish_reason"),
        A(Op.STR, "gen_ai.response.native_finish_reason", "native_finish_reason"),
        A(Op.INT, "gen_ai.usage.input_tokens", "prompt_tokens"),
        A(Op.INT, "gen_ai.usage.output_tokens", "completion_tokens"),
        A(Op.INT, "gen_ai.usage.total_tokens", "total_tokens"),
        A(Op.INT, "gen_ai.usage.input_tokens.cached", "cached_tokens"),
        A(Op.INT, "gen_ai.usage.input_tokens.cache_write", "cache_write_tokens"),
        A(Op.INT, "gen_ai.usage.output_tokens.reasoning", "reasoning_tokens"),
        A(Op.DOUBLE, "gen_ai.usage.input_cost", "input_cost", 1.0),
        A(Op.DOUBLE, "gen_ai.usage.output_cost", "output_cost", 1.0),
        A(Op.DOUBLE, "gen_ai.usage.total_cost", "total_cost", 1.0),
        A(Op.DOUBLE, "gen_ai.server.time_to_first_token", "time_to_first_token_ms", 0.001),
        A(Op.BOOL, "gen_ai.request.stream", "streamed"),
        A(Op.BOOL, "gen_ai.response.cancelled", "cancelled"),
        # "model" and "stream" would repeat gen_ai.request.model / .stream, which come from the record.
        A(Op.EXPAND, "gen_ai.request.", "model_parameters", frozenset({"model", "stream"})),
        A(Op.STR, "error.type", "error_type"),
        A(Op.STR, "user.id", "user"),
        A(Op.STR, "session.id", "session_id"),
        A(Op.STR, "gen_ai.api_key.name", "api_key_name"),
        A(Op.EXPAND, "trace.metadata.", "trace", _RESERVED),
        A(Op.JSON_OBJECT, "gen_ai.prompt", None, (("messages", "messages"), ("prompt", "prompt"))),
        A(
            Op.JSON_OBJECT,
            "gen_ai.completion",
            None,
            (("completion", "completion"), ("reasoning", "reasoning"), ("toolCalls", "tool_calls")),
        ),
    )
    return AttributePlan("gen_ai", steps, ())


def _openinference() -> AttributePlan:
    A = Attr
    steps = (
        A(Op.CONST, "openinference.span.kind", None, "LLM"),
        A(Op.STR_OR, "llm.model_name", "response_model", "model"),
        A(Op.STR_LOWER, "llm.provider", "provider"),
        A(Op.INT, "llm.token_count.prompt", "prompt_tokens"),
        A(Op.INT, "llm.token_count.completion", "completion_tokens"),
        A(Op.INT, "llm.token_count.total", "total_tokens"),
        A(Op.INT, "llm.token_count.prompt_details.cache_read", "cached_tokens"),
        A(Op.INT, "llm.token_count.prompt_details.cache_write", "cache_write_tokens"),
        A(Op.INT, "llm.token_count.completion_details.reasoning", "reasoning_tokens"),
        A(Op.DOUBLE, "llm.cost.prompt", "input_cost", 1.0),
        A(Op.DOUBLE, "llm.cost.completion", "output_cost", 1.0),
        A(Op.DOUBLE, "llm.cost.total", "total_cost", 1.0),
        A(Op.TEXT_OR_JSON, "input.value", None, ("prompt", "messages")),
        A(Op.MIME_OF, "input.mime_type", None, ("prompt", "messages")),
        A(Op.STR, "output.value", "completion"),
        A(Op.MIME_OF, "output.mime_type", None, ("completion", None)),
        A(Op.MESSAGES, "llm.input_messages.", "messages"),
        A(Op.OUTPUT_MESSAGE, "llm.output_messages.", None),
        A(Op.JSON, "llm.invocation_parameters", "model_parameters"),
        A(Op.CUSTOM_JSON, "metadata", "trace", _RESERVED),
        A(Op.STR, "session.id", "session_id"),
        A(Op.STR, "user.id", "user"),
        A(Op.STR, "exception.type", "error_type"),
    )
    return AttributePlan("openinference", steps, (("openinference.span.kind", "CHAIN"),))


# Trace keys Langfuse takes as first-class fields rather than metadata.
_LANGFUSE_FIELDS = frozenset({"environment", "release"})


def _langfuse() -> AttributePlan:
    """gen_ai plus Langfuse's own keys (langfuse.com/integrations/native/opentelemetry, property mapping).

    OpenRouter sends ``environment`` / ``release`` as resource and observation attributes. A request
    carries many records, each with its own trace keys, under one resource, so here they are span
    attributes only (Langfuse reads ``langfuse.environment``, ``deployment.environment`` and
    ``langfuse.release`` from the span as well)."""
    A = Attr
    steps = _gen_ai().steps + (
        A(Op.CONST, "langfuse.observation.type", None, "generation"),
        A(Op.ENTRY, "langfuse.trace.name", "trace", "trace_name"),
        A(Op.STR, "langfuse.user.id", "user"),
        A(Op.STR, "langfuse.session.id", "session_id"),
        A(Op.ENTRY, "langfuse.environment", "trace", "environment"),
        A(Op.ENTRY, "deployment.environment", "trace", "environment"),
        A(Op.ENTRY, "langfuse.release", "trace", "release"),
        A(Op.EXPAND, "langfuse.trace.metadata.", "trace", _RESERVED | _LANGFUSE_FIELDS),
    )
    return AttributePlan("langfuse", steps, (("langfuse.observation.type", "span"),))


def _langsmith() -> AttributePlan:
    """gen_ai plus LangSmith's own keys (docs.langchain.com/langsmith/trace-with-opentelemetry).

    The generation is an ``llm`` run, the span_name span a ``chain`` run. ``user`` and ``session_id``
    also go to ``langsmith.metadata.user_id`` / ``.session_id`` (LangSmith groups threads by the
    session_id metadata key); custom trace keys of those names stay under trace.metadata.* only."""
    A = Attr
    steps = _gen_ai().steps + (
        A(Op.CONST, "langsmith.span.kind", None, "llm"),
        A(Op.ENTRY, "langsmith.trace.name", "trace", "trace_name"),
        A(Op.STR, "langsmith.trace.session_id", "session_id"),
        A(Op.STR, "langsmith.metadata.user_id", "user"),
        A(Op.STR, "langsmith.metadata.session_id", "session_id"),
        A(Op.EXPAND, "langsmith.metadata.", "trace", _RESERVED | {"user_id", "session_id"}),
    )
    return AttributePlan("langsmith", steps, (("langsmith.span.kind", "chain"),))


FLAVORS = {"gen_ai": _gen_ai(), "openinference": _openinference(), "langfuse": _langfuse(), "langsmith": _langsmith()}

_FIELDS = frozenset(Generation.__struct_fields__)


def _check(plan: AttributePlan) -> AttributePlan:
    """Reject a plan that names a field the record does not have (a typo would silently emit nothing),
    or whose expanded keys could repeat another step's key (OTLP attribute keys are unique)."""
    members = [m for step in plan.steps if step.op is Op.JSON_OBJECT for m, _ in step.arg]
    for key in [step.key for step in plan.steps] + [k for k, _ in plan.intermediate] + members:
        if any(c < " " or c in '"\\' for c in key):  # the encoders write plan keys into JSON unescaped
            raise ValueError(f"plan {plan.name}: key {key!r} has characters JSON must escape")
    fixed = {step.key for step in plan.steps if step.op not in (Op.EXPAND, Op.MESSAGES, Op.OUTPUT_MESSAGE)}
    for step in plan.steps:
        if step.op is Op.EXPAND:
            clash = {key[len(step.key) :] for key in fixed if key.startswith(step.key)} - set(step.arg)
            if clash:
                raise ValueError(f"plan {plan.name}: {step.key}* would repeat keys {sorted(clash)}; skip them")
        names = [step.field]
        if step.op in (Op.JSON_OBJECT,):
            names += [f for _, f in step.arg]
        elif step.op in (Op.TEXT_OR_JSON, Op.MIME_OF):
            names += list(step.arg)
        elif step.op is Op.STR_OR:
            names.append(step.arg)
        elif step.op is Op.ENTRY and not isinstance(step.arg, str):
            raise ValueError(f"plan {plan.name}: step {step.key!r} needs the entry's key (a str) as arg")
        for name in names:
            if name is not None and name not in _FIELDS:
                raise ValueError(f"plan {plan.name}: step {step.key!r} names unknown record field {name!r}")
    return plan


for _plan in FLAVORS.values():
    _check(_plan)


def get_plan(flavor: str | AttributePlan) -> AttributePlan:
    """The plan for a flavour name (or a plan given as is)."""
    if isinstance(flavor, AttributePlan):
        return _check(flavor)
    try:
        return FLAVORS[flavor]
    except KeyError:
        raise ValueError(f"unknown flavor {flavor!r}; known: {', '.join(sorted(FLAVORS))}") from None
