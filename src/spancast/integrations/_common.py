"""What the record builders share: duck-typed reading, plain JSON values, and the checked final build."""

from __future__ import annotations

import base64
import dataclasses
import enum
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import msgspec

from ..errors import RecordError
from ..record import Generation, _record_error

FIELDS = frozenset(Generation.__struct_fields__)

# Sampling and output settings only. Request kwargs also carry credentials (extra_headers), content
# (prediction, tools) and identities (user, metadata), none of which belong among span attributes.
MODEL_PARAMETERS = frozenset({
    "temperature", "top_p", "top_k", "min_p", "max_tokens", "max_completion_tokens", "frequency_penalty",
    "presence_penalty", "repetition_penalty", "seed", "stop", "n", "response_format", "logit_bias",
    "logprobs", "top_logprobs", "tool_choice", "parallel_tool_calls", "reasoning_effort", "reasoning",
    "thinking", "verbosity", "service_tier", "modalities", "audio", "web_search_options",
})

# Normalised as record.md lists them; OpenAI's legacy "function_call" is a tool call by another name.
_FINISH = {"function_call": "tool_calls"}

# Identifier-like fields are capped (record.py); a builder clips rather than lose the whole record.
_LIMITS = {
    "id": 256, "model": 256, "response_model": 256, "operation": 256, "finish_reason": 256,
    "native_finish_reason": 256, "user": 256, "session_id": 256, "api_key_hash": 256, "api_key_name": 256,
    "provider": 1024, "error_type": 1024,
}
_PLAIN_FIELDS = ("trace", "model_parameters", "messages", "tool_calls")
_MAX_DEPTH = 64


def absent(value: Any) -> bool:
    """None, or the OpenAI client's NOT_GIVEN / omit sentinels (a kwarg passed but meaning 'unset')."""
    return value is None or type(value).__name__ in ("NotGiven", "Omit")


def get(obj: Any, key: str, default: Any = None) -> Any:
    """obj[key] for mappings, obj.key otherwise (pydantic extras included); default when unset."""
    if obj is None:
        return default
    value = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    return default if absent(value) else value


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = get(obj, key)
    return obj


def plain(value: Any, depth: int = 0) -> Any:
    """value as JSON-ready data (dicts with str keys, lists, scalars): what every wire encoder accepts."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"nested deeper than {_MAX_DEPTH} levels")
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value, depth + 1)
    for scalar in (str, int, float):  # subclasses (numpy.float64, str mixins) as the plain base type
        if isinstance(value, scalar):
            return scalar(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items() if not absent(v)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, type):  # response_format=SomeModel with the client's .parse()
        return value.__name__
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return plain(dump(exclude_none=True), depth + 1)
    if dataclasses.is_dataclass(value):
        return plain(dataclasses.asdict(value), depth + 1)
    return str(value)


def model_parameters(params: Any) -> dict[str, Any] | None:
    if not isinstance(params, Mapping):
        return None
    out = {k: plain(v) for k, v in params.items() if k in MODEL_PARAMETERS and not absent(v)}
    return out or None


def finish_fields(native: Any) -> dict[str, Any]:
    if not isinstance(native, str) or not native:
        return {}
    return {"finish_reason": _FINISH.get(native, native), "native_finish_reason": native}


# (record field, path in an OpenAI-shaped usage object); later paths are other providers' spellings
# as LiteLLM passes them through (Anthropic's cache counts).
_USAGE = (
    ("prompt_tokens", ("prompt_tokens",)),
    ("completion_tokens", ("completion_tokens",)),
    ("total_tokens", ("total_tokens",)),
    ("cached_tokens", ("prompt_tokens_details", "cached_tokens")),
    ("cached_tokens", ("cache_read_input_tokens",)),
    ("cache_write_tokens", ("prompt_tokens_details", "cache_creation_tokens")),
    ("cache_write_tokens", ("cache_creation_input_tokens",)),
    ("reasoning_tokens", ("completion_tokens_details", "reasoning_tokens")),
)


def usage_fields(usage: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if usage is None:
        return out
    for name, path in _USAGE:
        with reading(name):
            value = dig(usage, *path)
            if value is not None and name not in out:
                out[name] = value
    return out


def new_id() -> str:
    return f"gen-{uuid.uuid4().hex}"


@contextmanager
def reading(field: str) -> Iterator[None]:
    """Name the record field being read when reading it fails; the reason never quotes content."""
    try:
        yield
    except RecordError:
        raise
    except Exception as exc:
        raise RecordError(field, f"could not be read ({type(exc).__name__})") from exc


def check_extra(extra: Mapping[str, Any]) -> None:
    unknown = sorted(set(extra) - FIELDS)
    if unknown:
        raise TypeError(f"not a Generation field: {', '.join(unknown)}")


def build(fields: Mapping[str, Any], extra: Mapping[str, Any]) -> Generation:
    """The checked record: fields read from the call, then ``extra`` on top.

    An ``extra`` value of None removes the field (``messages=None`` keeps prompts out); an ``extra``
    trace mapping is merged into the one read from the call, its keys winning."""
    check_extra(extra)
    merged = {k: v for k, v in fields.items() if v is not None}
    for key, value in extra.items():
        if value is None:
            merged.pop(key, None)
        elif key == "trace" and isinstance(value, Mapping) and isinstance(merged.get("trace"), dict):
            merged["trace"] = {**merged["trace"], **value}
        else:
            merged[key] = value
    for key in _PLAIN_FIELDS:
        if key in merged:
            with reading(key):
                merged[key] = plain(merged[key])
    for key, limit in _LIMITS.items():
        value = merged.get(key)
        if isinstance(value, str) and len(value) > limit:
            merged[key] = value[:limit]
    try:
        return msgspec.convert(merged, Generation)
    except msgspec.ValidationError as exc:
        raise _record_error(exc, None) from None
