"""The generation record (one LLM call) and its tolerant JSON decoding."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import msgspec

from . import record_checks
from .errors import RecordError, lower_first

__all__ = ["Generation", "ProviderAttempt", "GenerationCost", "GenerationIdentity", "GenerationContext",
           "DecodeResult", "decode_records", "CONTENT_FIELDS", "TEXT_FIELDS", "METADATA_FIELDS", "TRACE_KEYS",
           "GENERATION_GROUPS"]

# Limits are generous on content (a long context is legitimate) and tight on
# identifiers, which end up as span attributes and index keys downstream.
ShortStr = Annotated[str, msgspec.Meta(max_length=256)]
IdStr = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Label = Annotated[str, msgspec.Meta(max_length=1024)]
Text = Annotated[str, msgspec.Meta(max_length=32 * 1024 * 1024)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
TimeNs = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]

#: The content of a call: the input and the output.
CONTENT_FIELDS = ("messages", "prompt", "completion", "reasoning", "tool_calls")
#: Every field that may hold the user's or the model's text: privacy mode sends none of that text (it
#: drops the content and error_message, and keeps of model_parameters and provider_attempts only what
#: holds no text; spancast.routing.privacy). Every other field is metadata (METADATA_FIELDS).
TEXT_FIELDS = CONTENT_FIELDS + ("error_message", "model_parameters", "provider_attempts")
#: Keys of ``trace`` that have a meaning; every other key is custom metadata.
TRACE_KEYS = ("trace_id", "trace_name", "span_name", "generation_name", "parent_span_id")


class ProviderAttempt(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One upstream attempt of a generation (a provider that was tried)."""

    provider: Label
    status: Annotated[int, msgspec.Meta(ge=0, le=999)] | None = None  # HTTP status
    latency_ms: float | None = None
    error: Text | None = None


class GenerationCost(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Cost and billing detail (OpenRouter's broadcast_generation_cost): sent only where a destination asks."""

    upstream_cost: float | None = None  # USD: what the provider charged (OpenRouter's usage_upstream)
    byok_cost: float | None = None  # USD: inference billed to your own provider key (byok_usage_inference)
    is_byok: bool | None = None
    cache_cost: float | None = None  # USD: what caching saved (negative) or cost (usage_cache)
    web_search_cost: float | None = None  # USD: the web search surcharge (usage_web)


class GenerationIdentity(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Who made the call (OpenRouter's broadcast_generation_identity); privacy mode keeps it, as OpenRouter's does."""

    app_name: Label | None = None  # the calling app's title (X-Title)
    app_url: Label | None = None  # its URL (HTTP-Referer)
    external_user: ShortStr | None = None


class GenerationContext(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How the call went (OpenRouter's broadcast_generation_request_context): the latency breakdown."""

    router_latency_ms: float | None = None  # before the provider was called
    provider_latency_ms: float | None = None  # the provider's request, first byte to last
    provider_ttft_ms: float | None = None  # the provider's own time to first token
    region: ShortStr | None = None


#: OpenRouter's per-destination flags and the record field each one lets through.
GENERATION_GROUPS = {
    "broadcast_generation_cost": "generation_cost",
    "broadcast_generation_identity": "generation_identity",
    "broadcast_generation_request_context": "generation_context",
}


# weakref: destinations that render alike share a record's span bytes for as long as the record lives
# (native/spancache.pxi), without keeping it alive.
class Generation(msgspec.Struct, kw_only=True, omit_defaults=True, weakref=True):
    """One LLM call. Only ``id``, ``model`` and the two timestamps are required."""

    id: IdStr
    start_time_ns: TimeNs
    end_time_ns: TimeNs
    model: IdStr
    response_model: ShortStr | None = None
    provider: Label | None = None
    operation: ShortStr = "chat"
    status: Literal["ok", "error"] = "ok"
    error_type: Label | None = None
    error_message: Text | None = None
    finish_reason: ShortStr | None = None
    native_finish_reason: ShortStr | None = None
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None
    cached_tokens: Count | None = None
    cache_write_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    cache_write_5m_tokens: Count | None = None  # the cache-write tokens by cache lifetime, part of cache_write_tokens
    cache_write_1h_tokens: Count | None = None
    web_search_requests: Count | None = None  # web searches the call made
    input_cost: float | None = None
    output_cost: float | None = None
    total_cost: float | None = None
    time_to_first_token_ms: float | None = None
    streamed: bool | None = None
    cancelled: bool | None = None
    model_parameters: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    prompt: Text | None = None
    completion: Text | None = None
    reasoning: Text | None = None
    tool_calls: list[dict[str, Any]] | None = None
    user: ShortStr | None = None
    session_id: ShortStr | None = None
    trace: dict[str, Any] | None = None
    api_key_hash: ShortStr | None = None
    api_key_name: ShortStr | None = None
    provider_attempts: list[ProviderAttempt] | None = None
    # Sent only to destinations whose broadcast_generation_* flag is on (routing clears them otherwise).
    generation_cost: GenerationCost | None = None
    generation_identity: GenerationIdentity | None = None
    generation_context: GenerationContext | None = None

    def __post_init__(self) -> None:
        if self.end_time_ns < self.start_time_ns:
            raise ValueError("end_time_ns is before start_time_ns - at `$.end_time_ns`")
        if self.total_tokens is None and (self.prompt_tokens is not None or self.completion_tokens is not None):
            self.total_tokens = (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @classmethod
    def from_openai(
        cls, request_kwargs: Any, response: Any, start_time_ns: int, end_time_ns: int, **extra: Any
    ) -> Generation:
        """The record of one OpenAI chat completion call: see spancast.integrations.openai.generation_from_openai."""
        # imported here so that importing spancast does not load the builders
        from .integrations.openai import generation_from_openai

        return generation_from_openai(request_kwargs, response, start_time_ns, end_time_ns, **extra)


#: What privacy mode sends as it is: ids, names, status, usage, cost, timing, user, session, trace.
METADATA_FIELDS = tuple(name for name in Generation.__struct_fields__ if name not in TEXT_FIELDS)


class DecodeResult(msgspec.Struct, frozen=True):
    """What decoding an input produced: the good records and one error per bad one."""

    records: list[Generation]
    errors: list[RecordError]

    def __repr__(self) -> str:
        return f"<DecodeResult records={len(self.records)} errors={len(self.errors)}>"


_decoder = msgspec.json.Decoder(Generation)
_list_decoder = msgspec.json.Decoder(list[Generation])
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_first_problem: Any = None  # spancast.codec.first_problem, bound on first use (codec imports this module)
_SPACE = re.compile(rb"[ \t\r\n]*")
_LINE = re.compile(rb"[^\n]*")
_AT_PATH = re.compile(r"\s+-\s+at\s+`\$(.*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def _bad_utf8_path(raw: bytes) -> str | None:
    """The path of the first string holding invalid UTF-8 (error path only: slow is fine)."""
    try:
        doc = json.loads(raw.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None

    def walk(value: Any, path: str) -> str | None:
        if isinstance(value, str):
            return path if any("\udc80" <= c <= "\udcff" for c in value) else None
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(key, str) and walk(key, path):
                return path or "<key>"
            found = walk(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
            if found:
                return found
        return None

    found = walk(doc, "")
    return found.lstrip(".") if found else None


def _invalid_utf8(raw: bytes, index: int) -> RecordError | None:
    """The error for a record that is not valid UTF-8, found by decoding it ourselves: which exception
    msgspec raises for it, and whether its message names the place, differ between releases."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RecordError(_bad_utf8_path(raw) or "<record>", f"invalid UTF-8 at byte {exc.start}", index)
    return None


def _record_error(exc: Exception, index: int, raw: bytes = b"") -> RecordError:
    """Turn a msgspec/Unicode error into a RecordError that names the field."""
    bad_utf8 = _invalid_utf8(raw, index)
    if bad_utf8 is not None:
        return bad_utf8
    message = str(exc)
    field = "<record>"
    match = _AT_PATH.search(message)
    if match:
        message = message[: match.start()]
        path = match.group(1)
        field = path[1:] if path.startswith(".") else path or "<record>"
    missing = _MISSING.search(message)
    if missing:
        prefix = "" if field == "<record>" else field + "."
        field = prefix + missing.group(1)
    return RecordError(field, lower_first(message), index)


def _decode_one(raw: bytes | memoryview | msgspec.Raw, index: int, out: DecodeResult) -> None:
    try:
        record = _decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        out.errors.append(_record_error(exc, index, bytes(raw)))
        return
    except RecursionError:  # nested far past what any destination takes: refused like the rest
        field = record_checks.too_deep_field(bytes(raw)) or "<record>"
        out.errors.append(RecordError(field, f"nested deeper than {record_checks.MAX_NESTING} levels", index))
        return
    problem = record_checks.check(record)  # what decoding lets through but an encoder would refuse
    if problem is None:
        out.records.append(record)
    else:
        out.errors.append(RecordError(*problem, index))


def _decode_whole(data: bytes | bytearray | memoryview) -> list[Generation] | None:
    """Every record of the input in one msgspec call, when all of them decode and record_checks takes every
    one (asked of all at once: codec.first_problem, native); else None, and the input is judged record by
    record, so that each bad one is named with its position."""
    global _first_problem
    if _first_problem is None:
        from .codec import first_problem as _first_problem
    start = _SPACE.match(data).end()  # type: ignore[union-attr]
    try:
        if data[start:start + 1] == b"[":
            records = _list_decoder.decode(data)
        else:
            first = bytes(data[start:_LINE.match(data, start).end()]).rstrip()  # type: ignore[union-attr]
            if first[:1] == b"{" and first[-1:] == b"}" and len(first) < len(data) - start:
                records = _decoder.decode_lines(data)  # NDJSON (as decode_records tells it apart, below)
            else:
                records = [_decoder.decode(data)]
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError, ValueError):
        return None
    return records if _first_problem(records) < 0 else None


def decode_records(data: bytes | bytearray | memoryview | str) -> DecodeResult:
    """Decode one JSON object, a JSON array of objects, or NDJSON into records.

    Each bad record yields a :class:`RecordError` (with its position) and the
    good records of the same input still decode. A malformed array as a whole
    (not one bad element) is one error at index ``None``. An input whose records
    are all good is decoded in one call (no per-record Python loop).
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    records = _decode_whole(data)  # bytes, bytearray or memoryview as it is: no copy on this path
    if records is not None:
        return DecodeResult(records, [])
    view = bytes(data).lstrip()
    out = DecodeResult([], [])
    if view[:1] == b"[":
        try:
            items: list[Any] = _raw_list.decode(view)
        except RecursionError:  # an element nested too deep to decode: split by hand, judge each alone
            items = record_checks.array_items(view)
        except msgspec.DecodeError as exc:
            out.errors.append(RecordError("<input>", f"malformed JSON array: {exc}"))
            return out
        for index, raw in enumerate(items):
            _decode_one(raw, index, out)
        return out
    lines = [line for line in view.split(b"\n") if line.strip()]
    # NDJSON when the first line is a whole object; a pretty-printed object starts with a lone "{".
    first = lines[0].strip() if lines else b""
    if len(lines) > 1 and first[:1] == b"{" and first[-1:] == b"}":
        for index, line in enumerate(lines):
            _decode_one(line, index, out)
    else:
        _decode_one(view, 0, out)
    return out
