"""A LiteLLM callback that turns each call's standard logging payload into a record and emits it.

Register it with ``litellm.callbacks = [SpancastLogger(broadcaster)]`` (SDK) or a proxy's
``callbacks`` setting. Needs the ``litellm`` extra: importing this module imports LiteLLM.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ..errors import RecordError
from ..record import TRACE_KEYS, Generation, ProviderAttempt
from ._common import (
    build,
    check_extra,
    get,
    model_parameters,
    new_id,
    plain,
    reading,
    usage_fields,
)
from .openai import read_completion

try:
    from litellm.integrations.custom_logger import CustomLogger
except ImportError as exc:  # pragma: no cover - only without the extra installed
    raise ImportError("spancast.integrations.litellm needs LiteLLM: pip install 'spancast[litellm]'") from exc
try:
    from litellm.types.utils import CallTypes

    _CALL_TYPES = frozenset(c.value for c in CallTypes)
except ImportError:  # pragma: no cover - a LiteLLM that moved it
    _CALL_TYPES = frozenset()

__all__ = ["SpancastLogger", "generation_from_litellm"]

log = logging.getLogger(__name__)

# The record's operation names for LiteLLM's call types; other call types are kept as they are.
_OPERATIONS = {"completion": "chat", "text_completion": "completion", "embedding": "embeddings",
               "responses": "responses"}


def _ns(seconds: Any) -> int:
    if isinstance(seconds, datetime):
        seconds = seconds.timestamp()
    return round(float(seconds) * 1e9)


def _operation(call_type: Any) -> str | None:
    if not isinstance(call_type, str) or not call_type:
        return None
    # async variants are the sync name with an "a" in front ("acompletion", "aimage_generation")
    known = _CALL_TYPES | _OPERATIONS.keys()
    base = call_type[1:] if call_type.startswith("a") and call_type[1:] in known else call_type
    return _OPERATIONS.get(base, base)


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "" else None


def generation_from_litellm(payload: Any, kwargs: Mapping[str, Any] | None = None, **extra: Any) -> Generation:
    """The record of one LiteLLM call from its ``standard_logging_object``.

    ``kwargs`` are the callback's kwargs; their ``litellm_params`` hold the request's own metadata,
    where a session id passed with ``metadata={"session_id": ...}`` lives. ``extra`` sets or
    overrides record fields as in :func:`spancast.integrations.openai.generation_from_openai`.
    Raises RecordError naming the field when the payload cannot make a valid record.
    """
    if not isinstance(payload, Mapping):
        raise RecordError("standard_logging_object", f"expected a mapping, got {type(payload).__name__}")
    params = get(kwargs, "litellm_params") or {}
    request_meta = get(params, "metadata") or {}
    meta = get(payload, "metadata") or {}
    requester = get(meta, "requester_metadata") or {}
    fields: dict[str, Any] = {}

    with reading("start_time_ns"):
        start = fields["start_time_ns"] = _ns(payload["startTime"])
    with reading("end_time_ns"):
        # the clocks of one payload are read apart; never let rounding put the end first
        end = fields["end_time_ns"] = max(start, _ns(payload["endTime"]))
    with reading("model"):
        # behind a router the requested name is the model group; `model` is the deployment that ran
        fields["model"] = _text(get(payload, "model_group")) or _text(get(payload, "model"))
    with reading("operation"):
        fields["operation"] = _operation(get(payload, "call_type"))
    with reading("provider"):
        fields["provider"] = _text(get(payload, "custom_llm_provider"))
    streamed = get(payload, "stream") is True or get(kwargs, "stream") is True
    fields["streamed"] = streamed

    response = get(payload, "response")
    if isinstance(response, Mapping) and response.get("choices"):
        fields.update(read_completion(response))
    with reading("id"):
        # a cache hit's payload id is the response's with a suffix: one record per call, not per answer
        fields["id"] = _text(get(payload, "id")) or fields.get("id") or new_id()
    with reading("response_model"):
        fields["response_model"] = fields.get("response_model") or _text(get(payload, "model"))
    _usage(payload, response, meta, fields)
    _costs(payload, fields)
    if get(payload, "status") == "failure":
        _failure(payload, fields, end - start)
    elif streamed:
        with reading("time_to_first_token_ms"):
            first = _ns(payload["completionStartTime"])
            fields["time_to_first_token_ms"] = (first - start) / 1e6 if first >= start else None

    with reading("messages"):
        messages = get(payload, "messages")
        if isinstance(messages, Mapping):
            messages = [messages]
        if isinstance(messages, str):
            fields["prompt"] = messages
        elif isinstance(messages, list) and messages and all(isinstance(m, Mapping) for m in messages):
            fields["messages"] = [plain(m) for m in messages]
        elif isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages):
            fields["prompt"] = "\n".join(messages)  # embeddings and text completions take a list of inputs
    raw_params = get(payload, "model_parameters") or {}
    with reading("model_parameters"):
        fields["model_parameters"] = model_parameters(raw_params)
    with reading("user"):
        fields["user"] = _text(get(payload, "end_user")) or _text(get(raw_params, "user"))
    with reading("session_id"):
        candidates = (get(payload, "session_id"), get(params, "litellm_session_id"), get(request_meta, "session_id"),
                      get(requester, "session_id"), get(get(meta, "spend_logs_metadata"), "session_id"))
        fields["session_id"] = next((s for s in map(_text, candidates) if s), None)
    with reading("api_key_hash"):
        fields["api_key_hash"] = _text(get(meta, "user_api_key_hash"))
    with reading("api_key_name"):
        fields["api_key_name"] = _text(get(meta, "user_api_key_alias"))
    with reading("trace"):
        fields["trace"] = _trace(payload, request_meta, requester)
    return build(fields, extra)


def _usage(payload: Mapping[str, Any], response: Any, meta: Any, fields: dict[str, Any]) -> None:
    # Sub-counts come from the response's usage (or LiteLLM's copy of it); the totals LiteLLM
    # normalised across providers win. A failure's zeros mean "no usage", not "used nothing".
    details = usage_fields(get(response, "usage") if isinstance(response, Mapping) else None)
    details = details or usage_fields(get(meta, "usage_object"))
    fields.update(details)
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        with reading(name):
            value = get(payload, name)
            if isinstance(value, int) and not (value == 0 and get(payload, "status") == "failure"):
                fields[name] = value


def _costs(payload: Mapping[str, Any], fields: dict[str, Any]) -> None:
    with reading("total_cost"):
        cost = get(payload, "response_cost")
        # LiteLLM reports 0.0 when it could not price the call, and says so in the debug info
        if isinstance(cost, (int, float)) and get(payload, "response_cost_failure_debug_info") is None:
            fields["total_cost"] = float(cost)
    breakdown = get(payload, "cost_breakdown") or {}
    with reading("input_cost"):
        # its input_cost is the uncached part only; the record's is everything on the input side
        parts = [get(breakdown, k) for k in ("input_cost", "cache_read_cost", "cache_creation_cost")]
        if any(isinstance(p, (int, float)) for p in parts):
            fields["input_cost"] = float(sum(p for p in parts if isinstance(p, (int, float))))
    with reading("output_cost"):
        output = get(breakdown, "output_cost")
        fields["output_cost"] = float(output) if isinstance(output, (int, float)) else None


def _failure(payload: Mapping[str, Any], fields: dict[str, Any], elapsed_ns: int) -> None:
    info = get(payload, "error_information") or {}
    with reading("error_message"):
        message = _text(get(info, "error_message")) or _text(get(payload, "error_str")) or "LiteLLM call failed"
    with reading("error_type"):
        error_type = _text(get(info, "error_class")) or "Exception"
    fields.update(status="error", error_type=error_type, error_message=message, finish_reason="error")
    with reading("provider_attempts"):
        code = get(info, "error_code")
        status = int(code) if isinstance(code, (str, int)) and str(code).isdigit() else None
        if status is not None and 100 <= status <= 599:
            provider = fields.get("provider") or _text(get(info, "llm_provider")) or "unknown"
            fields["provider_attempts"] = [
                ProviderAttempt(provider=provider, status=status, latency_ms=elapsed_ns / 1e6, error=message)
            ]


def _trace(payload: Mapping[str, Any], request_meta: Any, requester: Any) -> dict[str, Any] | None:
    trace: dict[str, Any] = {}
    # LiteLLM's trace_id groups the retries and fallbacks of one request (or is the session id)
    trace_id = _text(get(payload, "trace_id"))
    if trace_id:
        trace["trace_id"] = trace_id
    for source in (request_meta, requester):  # SDK metadata, then a proxy client's metadata
        if isinstance(source, Mapping):
            for key in TRACE_KEYS[1:]:
                value = _text(source.get(key))
                if value:
                    trace.setdefault(key, value)
    tags = get(payload, "request_tags")
    if isinstance(tags, list) and tags:
        trace["tags"] = plain(tags)
    return trace or None


class SpancastLogger(CustomLogger):
    """LiteLLM callback: one record per call, success or failure, handed to ``emit``.

    ``emit`` is a :class:`spancast.Broadcaster` (its ``emit`` is used) or any callable taking a
    Generation. ``extra`` sets record fields on every record (``trace={"environment": "prod"}``,
    ``messages=None`` to keep prompts out). Nothing raises into LiteLLM's call path: a record that
    cannot be built or emitted is counted in ``failed`` and logged once per field, without content.

    LiteLLM keeps one callback per class and public settings, so two loggers registered together
    need different ``name``s.
    """

    def __init__(self, emit: Any, *, name: str = "spancast", **extra: Any) -> None:
        super().__init__()
        target: Callable[[Generation], Any] = getattr(emit, "emit", emit)
        if not callable(target):
            raise TypeError(f"emit must be a Broadcaster or a callable, not {type(emit).__name__}")
        check_extra(extra)
        self.name = name
        self.extra = extra
        self._emit = target
        # Private with read-only properties: LiteLLM's duplicate check reads public int attributes,
        # and counts that changed would make the same logger look new.
        self._emitted = 0
        self._failed = 0
        self._lock = threading.Lock()  # sync callbacks run on LiteLLM's thread pool
        self._logged: set[str] = set()

    @property
    def emitted(self) -> int:
        """Records handed to ``emit``."""
        return self._emitted

    @property
    def failed(self) -> int:
        """Calls with no record: the payload could not make one, or ``emit`` raised."""
        return self._failed

    def record(self, kwargs: Any) -> None:
        """Build and emit the record of one call; never raises."""
        try:
            payload = get(kwargs, "standard_logging_object")
            record = generation_from_litellm(payload, kwargs if isinstance(kwargs, Mapping) else None, **self.extra)
        except RecordError as exc:
            return self._count_failure(exc.field, exc.reason)
        except Exception as exc:  # noqa: BLE001 - LiteLLM's call path must never see our errors
            return self._count_failure("<record>", type(exc).__name__)
        try:
            self._emit(record)
        except Exception as exc:  # noqa: BLE001 - a failing emit callable is counted, not raised
            return self._count_failure("<emit>", type(exc).__name__)
        with self._lock:
            self._emitted += 1

    def _count_failure(self, field: str, reason: str) -> None:
        with self._lock:
            self._failed += 1
            first = field not in self._logged
            self._logged.add(field)
        if first:
            log.warning("spancast: a LiteLLM call was not recorded: %s: %s (further failures at this field "
                        "are only counted)", field, reason)

    # LiteLLM calls the sync hooks for completion() and the async ones for acompletion(), never both.
    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.record(kwargs)
