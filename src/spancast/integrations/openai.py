"""Generation records from the OpenAI Python client's chat completions (objects or dicts, plain or streamed).

Duck-typed: nothing here imports ``openai``, so responses may be the client's pydantic objects,
their ``model_dump()`` dicts, or any OpenAI-compatible server's JSON decoded to dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import RecordError
from ..record import Generation, ProviderAttempt
from ._common import (
    build,
    finish_fields,
    get,
    model_parameters,
    new_id,
    plain,
    reading,
    usage_fields,
)

__all__ = ["error_fields", "generation_from_openai", "read_chunks", "read_completion"]


def generation_from_openai(
    request_kwargs: Mapping[str, Any],
    response: Any,
    start_time_ns: int,
    end_time_ns: int,
    *,
    first_token_time_ns: int | None = None,
    error: BaseException | None = None,
    provider: str | None = "openai",
    **extra: Any,
) -> Generation:
    """One record for one ``client.chat.completions.create(**request_kwargs)`` call.

    ``response`` is the ``ChatCompletion``, the chunks received when streaming (a list or any
    iterable of ``ChatCompletionChunk``), or the exception the call raised. ``first_token_time_ns``
    (``time.time_ns()`` when the first chunk arrived) gives the time to first token. ``error`` is for
    a stream that broke after some chunks: pass those chunks as ``response`` and the exception here.
    ``extra`` sets or overrides any record field (session_id, trace, user, api_key_name, costs...);
    an extra of None removes a field. Raises RecordError naming the field when the record is invalid.
    """
    if not isinstance(request_kwargs, Mapping):
        raise TypeError(f"request_kwargs must be the dict passed to create(), not {type(request_kwargs).__name__}")
    if isinstance(response, BaseException):
        error, response = response, None
    fields: dict[str, Any] = {"start_time_ns": start_time_ns, "end_time_ns": end_time_ns, "provider": provider}
    fields.update(_request_fields(request_kwargs))

    # a completion may have been streamed and put together by the caller (or the client's helpers)
    fields["streamed"] = bool(get(request_kwargs, "stream", False))
    if response is not None and _is_chunks(response):
        fields.update(read_chunks([response] if _is_one_chunk(response) else response))
        fields["streamed"] = True
    elif response is not None:
        fields.update(read_completion(response))
    if not fields.get("model"):
        fields["model"] = fields.get("response_model")
    if error is not None:
        fields.update(error_fields(error, provider, end_time_ns - start_time_ns))
    if first_token_time_ns is not None:
        with reading("time_to_first_token_ms"):
            if first_token_time_ns < start_time_ns:
                raise RecordError("time_to_first_token_ms", "first_token_time_ns is before start_time_ns")
            fields["time_to_first_token_ms"] = (first_token_time_ns - start_time_ns) / 1e6
    fields["id"] = fields.get("id") or new_id()
    return build(fields, extra)


def _request_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with reading("model"):
        out["model"] = get(request, "model")
    with reading("messages"):
        messages = get(request, "messages")
        if messages is not None:
            out["messages"] = [plain(m) for m in messages]
    with reading("model_parameters"):
        out["model_parameters"] = model_parameters(request)
    with reading("user"):
        # safety_identifier is OpenAI's successor to `user` for end-user ids
        user = get(request, "user") or get(request, "safety_identifier")
        out["user"] = user if isinstance(user, str) and user else None
    with reading("trace"):
        metadata = get(request, "metadata")
        if isinstance(metadata, Mapping) and metadata:
            trace = dict(plain(metadata))
            session = trace.pop("session_id", None)
            out["session_id"] = session if isinstance(session, str) and session else None
            out["trace"] = trace or None
    return out


def _is_one_chunk(response: Any) -> bool:
    return get(response, "object") == "chat.completion.chunk"


def _is_chunks(response: Any) -> bool:
    """True for chunks, False for one completion; TypeError for anything else (a Responses API object)."""
    if _is_one_chunk(response):
        return True
    # pydantic models iterate over their fields: a single object is never taken for a chunk sequence
    single = isinstance(response, Mapping) or hasattr(response, "model_dump") or hasattr(response, "choices")
    if single and get(response, "choices") is not None:
        return False
    if single or isinstance(response, (str, bytes)) or not isinstance(response, Iterable):
        kind = get(response, "object") if single else None
        raise TypeError(f"expected a chat completion or its chunks, got {kind or type(response).__name__}")
    return True


def _first_choice(choices: Any) -> Any:
    for choice in choices or ():
        if (get(choice, "index") or 0) == 0:
            return choice
    return None


def _reasoning(message: Any) -> Any:
    # Not in OpenAI's own schema: OpenRouter says `reasoning`, DeepSeek/vLLM/LiteLLM `reasoning_content`.
    value = get(message, "reasoning_content") or get(message, "reasoning")
    return value if isinstance(value, str) and value else None


def read_completion(response: Any) -> dict[str, Any]:
    """The output fields of a ChatCompletion (or a text completion's) object or dict."""
    out: dict[str, Any] = {}
    with reading("id"):
        out["id"] = get(response, "id")
    with reading("response_model"):
        out["response_model"] = get(response, "model")
    choice = _first_choice(get(response, "choices"))
    message = get(choice, "message")
    with reading("finish_reason"):
        out.update(finish_fields(get(choice, "finish_reason")))
    with reading("completion"):
        content = get(message, "content")
        if content is None:
            # a refusal is the answer the user saw; a text completion's answer is choice.text
            content = get(message, "refusal") or get(choice, "text")
        if isinstance(content, list):  # some compatible servers answer in content parts
            content = "".join(t for t in (get(part, "text") for part in content) if isinstance(t, str))
        out["completion"] = content if isinstance(content, str) else None
    with reading("reasoning"):
        out["reasoning"] = _reasoning(message)
    with reading("tool_calls"):
        calls = get(message, "tool_calls")
        out["tool_calls"] = [plain(c) for c in calls] if calls else None
    out.update(usage_fields(get(response, "usage")))
    return out


def read_chunks(chunks: Iterable[Any]) -> dict[str, Any]:
    """The output fields accumulated over a stream's chunks (choice 0; usage from the chunk that has it)."""
    out: dict[str, Any] = {}
    text: list[str] = []
    thought: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = finish = None
    with reading("completion"):
        for chunk in chunks:
            out["id"] = out.get("id") or get(chunk, "id")
            out["response_model"] = out.get("response_model") or get(chunk, "model")
            usage = get(chunk, "usage") or usage
            choice = _first_choice(get(chunk, "choices"))
            if choice is None:
                continue
            finish = get(choice, "finish_reason") or finish
            delta = get(choice, "delta")
            for pieces, piece in ((text, get(delta, "content")), (thought, _reasoning(delta)),
                                  (refusal, get(delta, "refusal"))):
                if isinstance(piece, str):
                    pieces.append(piece)
            for call in get(delta, "tool_calls") or ():
                _merge_tool_call(calls, call)
    out.update(finish_fields(finish))
    out["completion"] = "".join(text) or "".join(refusal) or None
    out["reasoning"] = "".join(thought) or None
    out["tool_calls"] = [calls[i] for i in sorted(calls)] or None
    out.update(usage_fields(usage))
    return out


def _merge_tool_call(calls: dict[int, dict[str, Any]], delta: Any) -> None:
    """Fold one tool-call delta in, as the openai client's own stream accumulator does: the index
    picks the call, the first id/type stick, name and argument fragments concatenate."""
    with reading("tool_calls"):
        index = get(delta, "index", 0)
        call = calls.setdefault(index, {"type": "function", "function": {"name": "", "arguments": ""}})
        if get(delta, "id") and "id" not in call:
            call["id"] = get(delta, "id")
        function = get(delta, "function")
        call["function"]["name"] += get(function, "name", "")
        call["function"]["arguments"] += get(function, "arguments", "")


def error_fields(error: BaseException, provider: str | None, elapsed_ns: int) -> dict[str, Any]:
    """status/error fields for a call that raised; an HTTP status becomes a provider attempt."""
    message = get(error, "message") or str(error) or type(error).__name__
    out: dict[str, Any] = {
        "status": "error",
        "error_type": type(error).__name__,
        "error_message": message if isinstance(message, str) else str(message),
        "finish_reason": "error",
    }
    status = get(error, "status_code")
    if isinstance(status, int) and 100 <= status <= 599:
        out["provider_attempts"] = [ProviderAttempt(
            provider=provider or "unknown", status=status, latency_ms=max(elapsed_ns, 0) / 1e6,
            error=out["error_message"],
        )]
    return out
