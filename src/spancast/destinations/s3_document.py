"""The s3 destination's trace document: the Langfuse-like JSON object OpenRouter stores per trace (spec 3.14)."""

from __future__ import annotations

from typing import Any, Mapping

from ..codec.ids import SEED_SPAN_MID, SEED_TRACE_HI, SEED_TRACE_LO, hash64
from ..codec.values import id_text
from ..errors import EncodeError
from ..record import TRACE_KEYS
from .events import iso_ms

__all__ = ["trace_document", "trace_id_of"]


def trace_id_of(record: Any, salt: int = 0) -> tuple[bool, str]:
    """(given by the caller, the trace id): the caller's trace.trace_id as written, else the 32-hex id
    derived from the generation id as the OTLP encoders derive it (salt: the destination's id salt)."""
    given = id_text(record.trace, "trace_id")
    if given is not None:
        return True, given
    gen = record.id.encode("utf-8")
    return False, f"{hash64(gen, SEED_TRACE_HI ^ salt):016x}{hash64(gen, SEED_TRACE_LO ^ salt):016x}"


def _put(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        doc[key] = value


def trace_document(rec: Any, salt: int = 0) -> dict[str, Any]:
    """The Langfuse-like trace document OpenRouter stores per trace (see the module docstring)."""
    trace = rec.trace or {}
    if not isinstance(trace, Mapping):
        raise EncodeError("trace", f"expected an object, got {type(trace).__name__}")
    metadata = {key: value for key, value in trace.items() if key not in TRACE_KEYS}
    _, trace_id = trace_id_of(rec, salt)
    trace_name = id_text(trace, "trace_name")
    # names default to the model, as OpenRouter documents trace_name and generation_name
    gen_name = id_text(trace, "generation_name") or rec.model
    span_name = id_text(trace, "span_name")
    parent = id_text(trace, "parent_span_id")
    start, end = iso_ms(rec.start_time_ns), iso_ms(rec.end_time_ns)

    doc: dict[str, Any] = {"id": trace_id, "name": trace_name or gen_name, "timestamp": start}
    _put(doc, "userId", rec.user)
    _put(doc, "sessionId", rec.session_id)
    _put(doc, "apiKeyName", rec.api_key_name)
    if rec.messages is not None:
        doc["input"] = {"messages": rec.messages}
    elif rec.prompt is not None:
        doc["input"] = {"prompt": rec.prompt}
    output: dict[str, Any] = {}
    _put(output, "content", rec.completion)
    _put(output, "reasoning", rec.reasoning)
    _put(output, "tool_calls", rec.tool_calls)
    if output:
        doc["output"] = {"role": "assistant", **output}
    doc["metadata"] = metadata

    observations = []
    if span_name:
        span_id = f"{hash64(rec.id.encode('utf-8'), SEED_SPAN_MID ^ salt):016x}"  # derived as the OTLP span's id
        span: dict[str, Any] = {"id": span_id, "traceId": trace_id, "type": "SPAN", "name": span_name}
        _put(span, "parentObservationId", parent)
        span.update(startTime=start, endTime=end, metadata=metadata)
        observations.append(span)
        parent = span_id
    gen: dict[str, Any] = {"id": rec.id, "traceId": trace_id, "type": "GENERATION", "name": gen_name}
    _put(gen, "parentObservationId", parent)
    gen.update(startTime=start, endTime=end)
    if rec.time_to_first_token_ms is not None:
        ttft_ns = int(rec.time_to_first_token_ms * 1_000_000) if rec.time_to_first_token_ms >= 0 else 0
        gen["completionStartTime"] = iso_ms(min(rec.start_time_ns + ttft_ns, rec.end_time_ns))
        gen["timeToFirstTokenMs"] = rec.time_to_first_token_ms
    gen["model"] = rec.model
    if rec.response_model is not None and rec.response_model != rec.model:
        gen["responseModel"] = rec.response_model
    for key, value in (
        ("providerName", rec.provider), ("operation", rec.operation), ("modelParameters", rec.model_parameters),
        ("promptTokens", rec.prompt_tokens), ("completionTokens", rec.completion_tokens),
        ("totalTokens", rec.total_tokens), ("cachedTokens", rec.cached_tokens),
        ("cacheWriteTokens", rec.cache_write_tokens), ("reasoningTokens", rec.reasoning_tokens),
        ("inputCost", rec.input_cost), ("outputCost", rec.output_cost), ("totalCost", rec.total_cost),
        ("finishReason", rec.native_finish_reason or rec.finish_reason), ("normalizedFinishReason", rec.finish_reason),
        ("streamed", rec.streamed), ("cancelled", rec.cancelled),
    ):
        _put(gen, key, value)
    if rec.status == "error":
        gen["level"] = "ERROR"
        gen["statusMessage"] = rec.error_message or "Provider returned error"
        _put(gen, "errorType", rec.error_type)
    else:
        gen["level"] = "DEFAULT"
    if rec.provider_attempts:
        attempts = []
        for attempt in rec.provider_attempts:
            item: dict[str, Any] = {"provider": attempt.provider}
            _put(item, "status", attempt.status)
            _put(item, "latencyMs", attempt.latency_ms)
            _put(item, "error", attempt.error)
            attempts.append(item)
        gen["providerAttempts"] = attempts
    gen["metadata"] = metadata
    observations.append(gen)
    doc["observations"] = observations
    return doc
