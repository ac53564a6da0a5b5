"""Attribute plans: which record fields become which span attributes, per flavour, as data.

A flavour (``gen_ai``, ``openinference``, ``langfuse``, ``langsmith``, ``mlflow``,
``openrouter``) is a few tuples of :class:`Attr` steps computed once. Both encoders (the Cython one and
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
from . import shapes

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
    MESSAGES = 14  # field (chat messages) -> key.N.message.role / .content / .name / .tool_call_id / .tool_calls.M.tool_call.*
    OUTPUT_MESSAGE = 15  # one assistant message from completion + tool_calls (+ reasoning as contents.0), keys as MESSAGES
    CUSTOM_JSON = 16  # field (a mapping) without the keys in arg -> one JSON object string
    ENTRY = 17  # field (a mapping) -> its entry arg (a key), typed value; nothing when absent or None
    MAP = 18  # field (str) -> arg[0][value] when listed, else the value (lower-cased when arg[1]) -> stringValue
    GENAI_INPUT = 19  # messages / prompt -> the GenAI conventions' input messages, JSON (shapes.genai_input)
    GENAI_OUTPUT = 20  # completion, reasoning, tool_calls -> the conventions' output messages, JSON (shapes.genai_output)
    PYFUNC = 21  # arg(record) -> a value typed as free-form values are; nothing when None (codec/shapes.py)


class Attr(NamedTuple):
    """One step of a plan: an op, the attribute key (or key prefix), the record field, an argument."""

    op: Op
    key: str
    field: str | None = None
    arg: Any = None


class AttributePlan(NamedTuple):
    """A flavour compiled: the steps of each kind of span, and how the span tree is drawn.

    A record becomes [a trace root span], [the span_name span], the generation span, and one span per
    provider attempt. The root span is drawn when ``root_span`` is set and the record names its trace
    (``trace_name``, unless the generation has that name too) or shares it (``trace_id``); its id comes
    from the trace id, so every record of a trace names the same root (an encoder writes it once per
    request; a failed record marks it failed, a later one widens its times).
    """

    name: str
    #: The generation span's attributes.
    steps: tuple[Attr, ...]
    #: Attributes of the intermediate span (trace.span_name): constant strings.
    intermediate: tuple[tuple[str, str], ...] = ()
    #: Trace-level attributes (user, session, trace name and metadata): on the root span when there is
    #: one, else on the generation span, which is then the trace's root.
    trace_steps: tuple[Attr, ...] = ()
    #: Attributes only a drawn root span carries (its kind, for instance).
    root_steps: tuple[Attr, ...] = ()
    #: Attributes of the provider attempt spans besides the provider and status: constant strings.
    attempt: tuple[tuple[str, str], ...] = ()
    #: Whether a root span named after the trace is drawn (see above).
    root_span: bool = True
    #: The name of the generation (and of a root without trace_name); None: the model, as OpenRouter documents.
    default_name: str | None = None
    #: An ``exception`` span event (exception.type / .message) on a failed generation span.
    exception_event: bool = True
    #: The instrumentation scope's name.
    scope: str = "spancast"
    #: Resource attributes this flavour sends unless the destination's resource says otherwise.
    resource: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"<AttributePlan {self.name} steps={len(self.steps)}>"


A = Attr
#: OpenRouter's provider names as the GenAI conventions' well-known ``gen_ai.provider.name`` values
#: (semantic-conventions v1.41.0 registry.yaml); any other name is sent lower-cased.
GENAI_PROVIDERS = {
    "OpenAI": "openai", "Anthropic": "anthropic", "Azure": "azure.ai.openai", "Amazon Bedrock": "aws.bedrock",
    "Google": "gcp.vertex_ai", "Google Vertex": "gcp.vertex_ai", "Google AI Studio": "gcp.gemini",
    "Mistral": "mistral_ai", "Groq": "groq", "DeepSeek": "deepseek", "xAI": "x_ai", "Perplexity": "perplexity",
    "Cohere": "cohere", "Moonshot AI": "moonshot_ai",
}
#: The same as OpenInference's ``llm.provider`` values (openinference-semantic-conventions'
#: OpenInferenceLLMProviderValues), which Phoenix's cost table matches on.
OPENINFERENCE_PROVIDERS = {
    "OpenAI": "openai", "Anthropic": "anthropic", "Azure": "azure", "Amazon Bedrock": "aws", "Google": "google",
    "Google Vertex": "google", "Google AI Studio": "google", "Mistral": "mistralai", "Groq": "groq",
    "DeepSeek": "deepseek", "xAI": "xai", "Perplexity": "perplexity", "Cohere": "cohere", "Moonshot AI": "moonshot",
    "Fireworks": "fireworks", "Together": "together", "Cerebras": "cerebras", "Meta": "meta",
}
#: The record's operations as the conventions name them (``completion`` is ``text_completion`` there).
GENAI_OPERATIONS = {"completion": "text_completion"}
_LEVELS = {"ok": "DEFAULT", "error": "ERROR"}
#: MLflow's cost object (USD): with it MLflow shows the record's cost instead of its own estimate.
_MLFLOW_COST = (("input_cost", "input_cost"), ("output_cost", "output_cost"), ("total_cost", "total_cost"))


def _usage_semconv() -> tuple[Attr, ...]:
    """Token counts under the GenAI conventions' keys (v1.41; cache_write is the newer repository's name
    for cache_creation, which MLflow reads first and Phoenix does not read: both are sent)."""
    return (
        A(Op.INT, "gen_ai.usage.input_tokens", "prompt_tokens"),
        A(Op.INT, "gen_ai.usage.output_tokens", "completion_tokens"),
        A(Op.INT, "gen_ai.usage.total_tokens", "total_tokens"),
        A(Op.INT, "gen_ai.usage.cache_read.input_tokens", "cached_tokens"),
        A(Op.INT, "gen_ai.usage.cache_creation.input_tokens", "cache_write_tokens"),
        A(Op.INT, "gen_ai.usage.cache_write.input_tokens", "cache_write_tokens"),
        A(Op.INT, "gen_ai.usage.reasoning.output_tokens", "reasoning_tokens"),
    )


def _model_keys() -> tuple[Attr, ...]:
    return (
        A(Op.MAP, "gen_ai.operation.name", "operation", (GENAI_OPERATIONS, False)),
        # gen_ai.system is deprecated for gen_ai.provider.name, but Opik, Weave and LangSmith read only it
        A(Op.STR_LOWER, "gen_ai.system", "provider"),
        A(Op.MAP, "gen_ai.provider.name", "provider", (GENAI_PROVIDERS, True)),
        A(Op.STR, "gen_ai.request.model", "model"),
        A(Op.STR_OR, "gen_ai.response.model", "response_model", "model"),
        A(Op.STR, "gen_ai.response.id", "id"),
        A(Op.STR_ARRAY, "gen_ai.response.finish_reasons", "finish_reason"),
    )


def _request_keys() -> tuple[Attr, ...]:
    return (
        A(Op.DOUBLE, "gen_ai.response.time_to_first_chunk", "time_to_first_token_ms", 0.001),
        A(Op.BOOL, "gen_ai.request.stream", "streamed"),
        # "model" and "stream" would repeat gen_ai.request.model / .stream, which come from the record.
        A(Op.EXPAND, "gen_ai.request.", "model_parameters", frozenset({"model", "stream"})),
        A(Op.STR, "error.type", "error_type"),
    )


def _gen_ai() -> AttributePlan:
    """The OpenTelemetry GenAI semantic conventions (v1.41, the last release of the registry inside
    semantic-conventions; read against open-telemetry/semantic-conventions-genai since), with what real
    receivers need beside them: ``output.value`` (Phoenix shows it as the output, and otherwise fills it
    with the response id and model), ``gen_ai.usage.cost`` (Langfuse's cost key) and ``mlflow.llm.cost``
    (MLflow shows its own price estimate otherwise)."""
    steps = _model_keys() + (
        A(Op.STR, "gen_ai.response.native_finish_reason", "native_finish_reason"),
        A(Op.STR, "gen_ai.conversation.id", "session_id"),
    ) + _usage_semconv() + (
        A(Op.DOUBLE, "gen_ai.usage.cost", "total_cost", 1.0),
        A(Op.JSON_OBJECT, "mlflow.llm.cost", None, _MLFLOW_COST),
    ) + _request_keys() + (
        A(Op.BOOL, "gen_ai.response.cancelled", "cancelled"),
        A(Op.STR, "gen_ai.api_key.name", "api_key_name"),
        A(Op.EXPAND, "trace.metadata.", "trace", _RESERVED),
        A(Op.GENAI_INPUT, "gen_ai.input.messages", "messages"),
        A(Op.GENAI_OUTPUT, "gen_ai.output.messages"),
        A(Op.STR, "output.value", "completion"),
        A(Op.MIME_OF, "output.mime_type", None, ("completion", None)),
    )
    trace = (A(Op.STR, "user.id", "user"), A(Op.STR, "session.id", "session_id"))
    return AttributePlan("gen_ai", steps, trace_steps=trace)


def _openinference() -> AttributePlan:
    steps = (
        A(Op.CONST, "openinference.span.kind", None, "LLM"),
        A(Op.STR_OR, "llm.model_name", "response_model", "model"),
        A(Op.MAP, "llm.provider", "provider", (OPENINFERENCE_PROVIDERS, True)),
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
        # an answer of tool calls only shows its calls
        A(Op.TEXT_OR_JSON, "output.value", None, ("completion", "tool_calls")),
        A(Op.MIME_OF, "output.mime_type", None, ("completion", "tool_calls")),
        A(Op.MESSAGES, "llm.input_messages.", "messages"),
        A(Op.OUTPUT_MESSAGE, "llm.output_messages.", None),
        A(Op.JSON, "llm.invocation_parameters", "model_parameters"),
        A(Op.PYFUNC, "metadata", None, shapes.openinference_metadata),
        A(Op.STR, "exception.type", "error_type"),
    )
    trace = (A(Op.STR, "session.id", "session_id"), A(Op.STR, "user.id", "user"))
    kind = ("openinference.span.kind",)
    return AttributePlan("openinference", steps, (("openinference.span.kind", "CHAIN"),), trace_steps=trace,
                         root_steps=(A(Op.CONST, kind[0], None, "CHAIN"),),
                         attempt=(("openinference.span.kind", "LLM"),))


# Trace keys Langfuse takes as first-class fields rather than metadata.
_LANGFUSE_FIELDS = frozenset({"environment", "release"})


def _langfuse() -> AttributePlan:
    """Langfuse's own keys, as its OTel ingestion reads them (langfuse/langfuse
    ``packages/shared/src/server/otel/OtelIngestionProcessor.ts`` @ 62751446149b): usage, cost, model,
    input, output, level and completion start under ``langfuse.observation.*``, trace fields on the trace's
    root span, and a few GenAI keys Langfuse keeps as metadata.

    OpenRouter sends ``environment`` / ``release`` as resource and observation attributes. A request
    carries many records, each with its own trace keys, under one resource, so here they are span
    attributes only (Langfuse reads ``langfuse.environment``, ``deployment.environment`` and
    ``langfuse.release`` from the span as well)."""
    steps = (
        A(Op.CONST, "langfuse.observation.type", None, "generation"),
        A(Op.STR_OR, "langfuse.observation.model.name", "response_model", "model"),
        A(Op.JSON, "langfuse.observation.model.parameters", "model_parameters"),
        A(Op.TEXT_OR_JSON, "langfuse.observation.input", None, ("prompt", "messages")),
        A(Op.PYFUNC, "langfuse.observation.output", None, shapes.assistant_json),
        A(Op.PYFUNC, "langfuse.observation.usage_details", None, shapes.langfuse_usage),
        A(Op.PYFUNC, "langfuse.observation.cost_details", None, shapes.langfuse_cost),
        A(Op.PYFUNC, "langfuse.observation.completion_start_time", None, shapes.completion_start_iso),
        A(Op.MAP, "langfuse.observation.level", "status", (_LEVELS, False)),
        A(Op.STR, "langfuse.observation.status_message", "error_message"),
        A(Op.EXPAND, "langfuse.observation.metadata.", "trace", _RESERVED | _LANGFUSE_FIELDS),
        A(Op.ENTRY, "langfuse.environment", "trace", "environment"),
        A(Op.ENTRY, "langfuse.release", "trace", "release"),
        A(Op.MAP, "gen_ai.provider.name", "provider", (GENAI_PROVIDERS, True)),
        A(Op.STR, "gen_ai.response.id", "id"),
        A(Op.STR_ARRAY, "gen_ai.response.finish_reasons", "finish_reason"),
        A(Op.STR, "error.type", "error_type"),
    )
    trace = (
        A(Op.ENTRY, "langfuse.trace.name", "trace", "trace_name"),
        A(Op.STR, "user.id", "user"),
        A(Op.STR, "session.id", "session_id"),
        A(Op.EXPAND, "langfuse.trace.metadata.", "trace", _RESERVED | _LANGFUSE_FIELDS),
    )
    return AttributePlan("langfuse", steps, (("langfuse.observation.type", "span"),), trace_steps=trace,
                         root_steps=(A(Op.CONST, "langfuse.observation.type", None, "span"),),
                         attempt=(("langfuse.observation.type", "span"),))


def _langsmith() -> AttributePlan:
    """LangSmith's OTel mapping (docs.langchain.com/langsmith/trace-with-opentelemetry, and what its own
    SDK sends, langchain-ai/langsmith-sdk ``python/langsmith/_internal/otel/_otel_exporter.py``).

    The generation is an ``llm`` run whose inputs are ``{"messages"}`` and outputs OpenAI's chat shape
    (LangSmith shows both as a chat) with ``usage_metadata``, where LangSmith reads a run's costs; the span_name span and the trace's root are ``chain`` runs. A
    LangSmith "session" is a tracing project, so ``session_id`` goes to ``langsmith.metadata.session_id``
    (LangSmith groups threads by that metadata key), on every run of the trace."""
    steps = _model_keys() + _usage_semconv() + (
        A(Op.INT, "gen_ai.usage.details.reasoning_tokens", "reasoning_tokens"),
        A(Op.PYFUNC, "gen_ai.usage.input_token_details", None, shapes.langsmith_token_details),
    ) + _request_keys() + (
        A(Op.CONST, "langsmith.span.kind", None, "llm"),
        A(Op.JSON_OBJECT, "gen_ai.prompt", None, (("messages", "messages"), ("prompt", "prompt"))),
        A(Op.PYFUNC, "gen_ai.completion", None, shapes.langsmith_outputs),
        A(Op.STR, "langsmith.metadata.user_id", "user"),
        A(Op.STR, "langsmith.metadata.session_id", "session_id"),
        A(Op.EXPAND, "langsmith.metadata.", "trace", _RESERVED | {"user_id", "session_id"}),
    )
    trace = (A(Op.STR, "user.id", "user"),)
    root = (
        A(Op.CONST, "langsmith.span.kind", None, "chain"),
        A(Op.STR, "langsmith.metadata.session_id", "session_id"),
    )
    return AttributePlan("langsmith", steps, (("langsmith.span.kind", "chain"),), trace_steps=trace,
                         root_steps=root, attempt=(("langsmith.span.kind", "llm"),))


def _mlflow() -> AttributePlan:
    """MLflow 3's own span attributes (mlflow/tracing/constant.py SpanAttributeKey), which its OTLP
    ingestion keeps as they are: inputs and outputs in OpenAI's chat shapes, token usage, the record's
    cost, model and provider; custom trace keys as trace tags on the root span."""
    steps = (
        A(Op.MAP, "mlflow.spanType", "operation", ({"chat": "CHAT_MODEL", "embeddings": "EMBEDDING"}, False)),
        A(Op.JSON_OBJECT, "mlflow.spanInputs", None, (("messages", "messages"), ("prompt", "prompt"))),
        A(Op.PYFUNC, "mlflow.spanOutputs", None, shapes.chat_choices),
        A(Op.CONST, "mlflow.message.format", None, "openai"),
        A(Op.PYFUNC, "mlflow.chat.tokenUsage", None, shapes.mlflow_usage),
        A(Op.JSON_OBJECT, "mlflow.llm.cost", None, _MLFLOW_COST),
        A(Op.STR_OR, "mlflow.llm.model", "response_model", "model"),
        A(Op.MAP, "mlflow.llm.provider", "provider", (GENAI_PROVIDERS, True)),
        A(Op.STR, "gen_ai.request.model", "model"),
        A(Op.STR, "gen_ai.response.id", "id"),
        A(Op.STR_ARRAY, "gen_ai.response.finish_reasons", "finish_reason"),
        A(Op.DOUBLE, "gen_ai.response.time_to_first_chunk", "time_to_first_token_ms", 0.001),
        A(Op.EXPAND, "gen_ai.request.", "model_parameters", frozenset({"model", "stream"})),
        A(Op.STR, "error.type", "error_type"),
        A(Op.EXPAND, "metadata.", "trace", _RESERVED),
    )
    trace = (
        A(Op.STR, "user.id", "user"),
        A(Op.STR, "session.id", "session_id"),
        A(Op.EXPAND, "mlflow.traceTag.", "trace", _RESERVED),
    )
    return AttributePlan("mlflow", steps, (("mlflow.spanType", "CHAIN"),), trace_steps=trace,
                         root_steps=(A(Op.CONST, "mlflow.spanType", None, "CHAIN"),),
                         attempt=(("mlflow.spanType", "LLM"),))


# The trace.metadata.* keys the openrouter flavour fills itself (a custom key of that name is left out).
_OPENROUTER_METADATA = frozenset({
    "openrouter.api_key_name", "openrouter.provider_name", "openrouter.finish_reason", "openrouter.first_token_ms",
}) | {key.removeprefix("trace.metadata.") for key, _, _ in shapes.OPENROUTER_GENERATION_KEYS}


def _openrouter() -> AttributePlan:
    """OpenRouter's own Broadcast payload, for receivers built on it (Ramp, webhooks): its attribute names
    (``gen_ai.response.finish_reason`` beside the array, the dotted usage and cost keys, ``gen_ai.prompt`` /
    ``gen_ai.completion`` JSON, ``trace.name``, ``span.type``, ``span.level``, ``trace.metadata.*``), its scope
    and resource, and its tree: one root span named by generation_name, trace_name or "LLM Generation"."""
    steps = (
        A(Op.STR, "gen_ai.operation.name", "operation"),
        A(Op.STR_LOWER, "gen_ai.system", "provider"),
        A(Op.STR, "gen_ai.provider.name", "provider"),
        A(Op.STR, "gen_ai.request.model", "model"),
        A(Op.STR_OR, "gen_ai.response.model", "response_model", "model"),
        A(Op.STR, "gen_ai.response.id", "id"),
        A(Op.STR, "gen_ai.response.finish_reason", "finish_reason"),
        A(Op.STR_ARRAY, "gen_ai.response.finish_reasons", "finish_reason"),
        A(Op.INT, "gen_ai.usage.input_tokens", "prompt_tokens"),
        A(Op.INT, "gen_ai.usage.output_tokens", "completion_tokens"),
        A(Op.INT, "gen_ai.usage.total_tokens", "total_tokens"),
        A(Op.INT, "gen_ai.usage.input_tokens.cached", "cached_tokens"),
        A(Op.INT, "gen_ai.usage.input_tokens.cache_write", "cache_write_tokens"),
        A(Op.INT, "gen_ai.usage.output_tokens.reasoning", "reasoning_tokens"),
        A(Op.DOUBLE, "gen_ai.usage.input_cost", "input_cost", 1.0),
        A(Op.DOUBLE, "gen_ai.usage.output_cost", "output_cost", 1.0),
        A(Op.DOUBLE, "gen_ai.usage.total_cost", "total_cost", 1.0),
        A(Op.BOOL, "gen_ai.request.stream", "streamed"),
        A(Op.EXPAND, "gen_ai.request.", "model_parameters", frozenset({"model", "stream"})),
        A(Op.STR, "error.type", "error_type"),
        A(Op.ENTRY, "trace.name", "trace", "trace_name"),
        A(Op.CONST, "span.type", None, "GENERATION"),
        A(Op.MAP, "span.level", "status", (_LEVELS, False)),
        A(Op.STR, "user.id", "user"),
        A(Op.STR, "session.id", "session_id"),
        A(Op.EXPAND, "trace.metadata.", "trace", _RESERVED | _OPENROUTER_METADATA),
        A(Op.STR, "trace.metadata.openrouter.api_key_name", "api_key_name"),
        A(Op.STR, "trace.metadata.openrouter.provider_name", "provider"),
        A(Op.STR, "trace.metadata.openrouter.finish_reason", "native_finish_reason"),
        A(Op.DOUBLE, "trace.metadata.openrouter.first_token_ms", "time_to_first_token_ms", 1.0),
        A(Op.INT, "gen_ai.usage.input_tokens.cache_write_5m", "cache_write_5m_tokens"),
        A(Op.INT, "gen_ai.usage.input_tokens.cache_write_1h", "cache_write_1h_tokens"),
    ) + tuple(A(Op.PYFUNC, key, None, shapes.member(group, name)) for key, group, name in shapes.OPENROUTER_GENERATION_KEYS) + (
        A(Op.JSON_OBJECT, "gen_ai.prompt", None, (("messages", "messages"), ("prompt", "prompt"))),
        A(
            Op.JSON_OBJECT,
            "gen_ai.completion",
            None,
            (("completion", "completion"), ("reasoning", "reasoning"), ("toolCalls", "tool_calls")),
        ),
    )
    return AttributePlan("openrouter", steps, root_span=False, default_name="LLM Generation", scope="openrouter",
                         resource=(("service.name", "openrouter"), ("service.version", "1.0.0")))


FLAVORS = {
    "gen_ai": _gen_ai(), "openinference": _openinference(), "langfuse": _langfuse(), "langsmith": _langsmith(),
    "mlflow": _mlflow(), "openrouter": _openrouter(),
}

_FIELDS = frozenset(Generation.__struct_fields__)


def _check_steps(plan: AttributePlan, steps: tuple[Attr, ...], fixed: set[str]) -> None:
    for step in steps:
        if any(c < " " or c in '"\\' for c in step.key):  # the encoders write plan keys into JSON unescaped
            raise ValueError(f"plan {plan.name}: key {step.key!r} has characters JSON must escape")
        if step.op is Op.EXPAND:
            clash = {key[len(step.key) :] for key in fixed if key.startswith(step.key)} - set(step.arg)
            if clash:
                raise ValueError(f"plan {plan.name}: {step.key}* would repeat keys {sorted(clash)}; skip them")
        names = [step.field]
        if step.op in (Op.JSON_OBJECT,):
            names += [f for _, f in step.arg]
            for member, _ in step.arg:
                if any(c < " " or c in '"\\' for c in member):
                    raise ValueError(f"plan {plan.name}: key {member!r} has characters JSON must escape")
        elif step.op in (Op.TEXT_OR_JSON, Op.MIME_OF):
            names += list(step.arg)
        elif step.op is Op.STR_OR:
            names.append(step.arg)
        elif step.op is Op.ENTRY and not isinstance(step.arg, str):
            raise ValueError(f"plan {plan.name}: step {step.key!r} needs the entry's key (a str) as arg")
        elif step.op is Op.MAP and not (isinstance(step.arg, tuple) and isinstance(step.arg[0], dict)):
            raise ValueError(f"plan {plan.name}: step {step.key!r} needs (mapping, lower-case fallback) as arg")
        elif step.op is Op.PYFUNC and not callable(step.arg):
            raise ValueError(f"plan {plan.name}: step {step.key!r} needs a function of the record as arg")
        for name in names:
            if name is not None and name not in _FIELDS:
                raise ValueError(f"plan {plan.name}: step {step.key!r} names unknown record field {name!r}")


def _fixed(steps: tuple[Attr, ...]) -> list[str]:
    return [step.key for step in steps if step.op not in (Op.EXPAND, Op.MESSAGES, Op.OUTPUT_MESSAGE)]


def _check(plan: AttributePlan) -> AttributePlan:
    """Reject a plan that names a field the record does not have (a typo would silently emit nothing),
    or whose keys could repeat on one span (OTLP attribute keys are unique): the generation span carries
    steps and, when it is the root, trace_steps; a drawn root carries root_steps and trace_steps."""
    for key, _ in plan.intermediate + plan.attempt + plan.resource:
        if any(c < " " or c in '"\\' for c in key):
            raise ValueError(f"plan {plan.name}: key {key!r} has characters JSON must escape")
    for one, two in ((plan.steps, plan.trace_steps), (plan.root_steps, plan.trace_steps)):
        keys = _fixed(one + two)
        if len(keys) != len(set(keys)):
            raise ValueError(f"plan {plan.name}: a span would carry a key twice: {sorted(keys)}")
        fixed = set(keys)
        _check_steps(plan, one, fixed)
        _check_steps(plan, two, fixed)
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
